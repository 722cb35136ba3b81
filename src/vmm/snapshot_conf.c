/* vmm/snapshot_conf.c — vm_snapshot_read_config(): the configuration a snapshot holds (section
 * "conf", written by vm_snapshot_save() with vm_config_to_json()), read before the VM is
 * created so `kvmm run --restore DIR` needs no other option. The state file is validated as a
 * whole first (snapshot_fmt), so a broken snapshot gets the same one-line errors as in
 * vm_create(). See docs/snapshot.md. */
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmm/snapshot.h"
#include "vmm/snapshot_fmt.h"

int vm_snapshot_read_config(const char *dir, struct vm_config *cfg, char *err, size_t errlen)
{
	struct snap_reader r;
	char msg[VM_CONFIG_ERRLEN] = "";
	uint8_t *buf;
	const void *conf;
	size_t len, clen;
	int e;

	e = snap_state_open(dir, NULL, &buf, &len, &r, err, errlen);
	if (e)
		return e;
	if (snap_get(&r, SNAP_TAG_CONF, 0, &conf, &clen)) {
		snprintf(msg, sizeof(msg), "the state file holds no configuration");
		e = -EINVAL;
	}
	if (!e)
		e = vm_config_load_json_text(cfg, "the saved configuration", conf, clen, msg,
					     sizeof(msg));
	/* Options of the restoring process only, never written by vm_snapshot_save(). */
	if (!e && (cfg->restore || cfg->qmp)) {
		snprintf(msg, sizeof(msg), "the saved configuration holds --%s",
			 cfg->restore ? "restore" : "qmp");
		e = -EINVAL;
	}
	if (e)
		snprintf(err, errlen, "--restore %s: %s", dir, msg);
	free(buf);
	return e;
}
