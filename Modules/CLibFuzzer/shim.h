// libFuzzer's driver, for a program that keeps its own main (compiler-rt FuzzerInterface.h).
// No `link`: -sanitize=fuzzer links the runtime; a plain build declares it and never calls it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
