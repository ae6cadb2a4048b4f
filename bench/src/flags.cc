#include "flags.h"

#include <cstdio>
#include <cstdlib>

namespace herald::bench {

Flags::Flags(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

void Flags::add(const std::string& name, const std::string& def, const std::string& help) {
  flags_.push_back(Flag{name, def, help, def, false, false});
}

void Flags::addSwitch(const std::string& name, const std::string& help) {
  flags_.push_back(Flag{name, "", help, "", true, false});
}

void Flags::section(const std::string& title) { sections_.emplace_back(flags_.size(), title); }

bool Flags::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      return true;
    }
    if (arg.rfind("--", 0) != 0) {
      fprintf(stderr, "herald-bench %s: unexpected argument '%s' (see --help)\n", command_.c_str(), arg.c_str());
      return false;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    Flag* flag = nullptr;
    for (auto& f : flags_)
      if (f.name == name) flag = &f;
    if (!flag) {
      fprintf(stderr, "herald-bench %s: unknown flag --%s (see --help)\n", command_.c_str(), name.c_str());
      return false;
    }
    if (flag->is_switch) {
      flag->value = has_value ? value : "true";
    } else if (has_value) {
      flag->value = value;
    } else if (i + 1 < argc) {
      flag->value = argv[++i];
    } else {
      fprintf(stderr, "herald-bench %s: --%s needs a value\n", command_.c_str(), name.c_str());
      return false;
    }
    flag->given = true;
  }
  return true;
}

void Flags::printHelp() const {
  printf("usage: herald-bench %s %s\n\n%s\n", command_.c_str(), usage_.c_str(), summary_.c_str());
  size_t next_section = 0;
  for (size_t i = 0; i < flags_.size(); ++i) {
    while (next_section < sections_.size() && sections_[next_section].first == i)
      printf("\n%s:\n", sections_[next_section++].second.c_str());
    const Flag& f = flags_[i];
    std::string left = "  --" + f.name + (f.is_switch ? "" : " V");
    printf("%-26s", left.c_str());
    if (left.size() >= 26) printf("\n%-26s", "");
    // Wrap the help text at about 80 columns.
    std::string help = f.help;
    if (!f.is_switch && !f.def.empty()) help += " [default: " + f.def + "]";
    size_t col = 26, start = 0;
    while (start < help.size()) {
      size_t end = help.find(' ', start);
      if (end == std::string::npos) end = help.size();
      std::string word = help.substr(start, end - start);
      if (col + word.size() > 100 && col > 26) {
        printf("\n%-26s", "");
        col = 26;
      }
      printf("%s ", word.c_str());
      col += word.size() + 1;
      start = end + 1;
    }
    printf("\n");
  }
}

const Flags::Flag& Flags::find(const std::string& name) const {
  for (auto& f : flags_)
    if (f.name == name) return f;
  fprintf(stderr, "herald-bench: internal error: undeclared flag --%s\n", name.c_str());
  abort();
}

const std::string& Flags::str(const std::string& name) const { return find(name).value; }

int64_t Flags::integer(const std::string& name) const {
  const std::string& v = find(name).value;
  char* end = nullptr;
  long long n = strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') {
    fprintf(stderr, "herald-bench %s: --%s wants an integer, got '%s'\n", command_.c_str(), name.c_str(), v.c_str());
    exit(2);
  }
  return n;
}

double Flags::number(const std::string& name) const {
  const std::string& v = find(name).value;
  char* end = nullptr;
  double n = strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    fprintf(stderr, "herald-bench %s: --%s wants a number, got '%s'\n", command_.c_str(), name.c_str(), v.c_str());
    exit(2);
  }
  return n;
}

bool Flags::on(const std::string& name) const {
  const std::string& v = find(name).value;
  return v == "true" || v == "1" || v == "yes";
}

bool Flags::given(const std::string& name) const { return find(name).given; }

}  // namespace herald::bench
