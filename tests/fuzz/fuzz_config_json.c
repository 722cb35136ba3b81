/* Fuzz target: a snapshot's saved configuration (section "conf": JSON text read by
 * vm_config_load_json_text, then written back by vm_config_to_json at the next save). The input
 * is the JSON text.
 * Invariants: no crash or leak (ASan/UBSan); a configuration that loads is written back, the
 * text loads again, and writing that gives the same text (the form is canonical: every value
 * parses back to the same field). A write may refuse only a disk value holding ','. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/config_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct vm_config a, b;
	char err[VM_CONFIG_ERRLEN];
	char *t1 = NULL, *t2 = NULL;
	int e;

	if (vm_config_init(&a))
		return 0;
	if (vm_config_load_json_text(&a, "fuzz", (const char *)d, n, err, sizeof(err)))
		goto out_a;
	e = vm_config_to_json(&a, &t1, err, sizeof(err));
	if (e == -EINVAL && strstr(err, "cannot be stored"))
		goto out_a;
	if (e)
		abort();
	if (vm_config_init(&b))
		goto out_a;
	if (vm_config_load_json_text(&b, "again", t1, strlen(t1), err, sizeof(err)))
		abort(); /* the written form must load */
	if (vm_config_to_json(&b, &t2, err, sizeof(err)) || strcmp(t1, t2))
		abort(); /* and write back the same text */
	free(t2);
	vm_config_fini(&b);
out_a:
	free(t1);
	vm_config_fini(&a);
	return 0;
}
