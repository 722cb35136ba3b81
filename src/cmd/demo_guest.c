/* cmd/demo_guest.c — accessors for the demo guest image embedded by demo_guest_blob.S. */
#include "cmd/demo_guest.h"

extern const uint8_t kvmm_demo_guest_begin[], kvmm_demo_guest_end[];

const uint8_t *demo_guest_start(void)
{
	return kvmm_demo_guest_begin;
}

size_t demo_guest_size(void)
{
	return (size_t)(kvmm_demo_guest_end - kvmm_demo_guest_begin);
}
