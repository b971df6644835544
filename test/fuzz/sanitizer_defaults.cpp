// Sanitizer defaults compiled into every fuzz target. Leak checks are off: LeakSanitizer fails
// fatally where it cannot read /proc (bare chroots), and there ASan cannot even read
// ASAN_OPTIONS from the environment, so the setting has to be built in.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0";
}
