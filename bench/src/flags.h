// Command-line flags of one subcommand: each flag is declared once with its
// default and its help text, so `--help` documents every flag there is.
// Accepts `--name value`, `--name=value` and, for switches, `--name`.
// Not thread-safe; used once at start-up.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace herald::bench {

class Flags {
 public:
  Flags(std::string command, std::string usage, std::string summary);

  // A flag taking a value; `def` is shown in --help ("" = no default).
  void add(const std::string& name, const std::string& def, const std::string& help);
  // A switch: false unless given.
  void addSwitch(const std::string& name, const std::string& help);
  // A heading printed before the flags declared after it.
  void section(const std::string& title);

  // Parses argv[first..]. Returns false and prints why on a bad flag.
  // `--help` sets helpRequested() and returns true.
  bool parse(int argc, char** argv, int first);
  bool helpRequested() const { return help_; }
  void printHelp() const;

  const std::string& str(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // exits with a message if not a number
  double number(const std::string& name) const;
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;

 private:
  struct Flag {
    std::string name, def, help, value;
    bool is_switch = false;
    bool given = false;
  };
  const Flag& find(const std::string& name) const;

  std::string command_, usage_, summary_;
  std::vector<Flag> flags_;
  std::vector<std::pair<size_t, std::string>> sections_;  // flag index -> title
  bool help_ = false;
};

}  // namespace herald::bench
