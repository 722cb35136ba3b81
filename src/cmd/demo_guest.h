/* cmd/demo_guest.h — the built-in default guest (tests/guest/payload demo.elf, embedded at build
 * time by src/cmd/demo_guest.S). Read-only data; any thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

const uint8_t *demo_guest_start(void);
size_t demo_guest_size(void);
