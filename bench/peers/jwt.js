'use strict';
// HS256 JWT check shared by the peer servers, so that `herald-bench connect
// --token-secret S` costs every server one signature verification per
// connection. Returns the claims, or null when the token is not acceptable.
const crypto = require('crypto');

function verifyHs256(token, secret) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch (e) {
    return null;
  }
  if (header.alg !== 'HS256') return null;
  const expected = crypto.createHmac('sha256', secret)
    .update(parts[0] + '.' + parts[1]).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) return null;
  return claims;
}

module.exports = { verifyHs256 };
