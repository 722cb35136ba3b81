/* block/qcow2/snapshot.c — internal snapshots: list, create, apply (revert), delete.
 *
 * A snapshot is a copy of the active L1 table plus one extra reference on every L2 table and
 * data cluster it reaches. Create and apply raise the new references before the L1 table or the
 * snapshot table that makes them reachable is written; references are dropped only after the
 * tables that held them are gone from disk. VM state is never saved (size 0). The public
 * functions take s->lock and must not run concurrently with I/O. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct qcow2 *snap_disk(struct disk *d)
{
	return d && !strcmp(d->ops->format, "qcow2") ? qcow2_from_disk(d) : NULL;
}

static int find_snapshot(const struct qcow2 *s, const char *id_or_name)
{
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].id, id_or_name))
			return (int)i;
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].name, id_or_name))
			return (int)i;
	return -1;
}

int qcow2_snapshot_list(struct disk *d, struct qcow2_snapshot_info **out, unsigned *n)
{
	struct qcow2 *s = snap_disk(d);
	struct qcow2_snapshot_info *v;
	int err = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	*n = s->nb_snapshots;
	v = calloc(s->nb_snapshots ? s->nb_snapshots : 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &s->snaps[i];

		v[i] = (struct qcow2_snapshot_info){
		    .id = strdup(sn->id),
		    .name = strdup(sn->name),
		    .vm_state_size = sn->vm_state_size,
		    .date_sec = sn->date_sec,
		    .date_nsec = sn->date_nsec,
		    .vm_clock_nsec = sn->vm_clock_nsec,
		    .disk_size = sn->disk_size,
		    .icount_valid = sn->has_icount,
		    .icount = sn->icount,
		};
		if (!v[i].id || !v[i].name)
			err = -ENOMEM;
	}
	if (err) {
		qcow2_snapshot_list_free(v, *n);
		goto out;
	}
	*out = v;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

void qcow2_snapshot_list_free(struct qcow2_snapshot_info *v, unsigned n)
{
	for (unsigned i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].name);
	}
	free(v);
}

static int write_l1_copy(struct qcow2 *s, const uint64_t *l1, uint32_t n, uint64_t *off)
{
	uint64_t bytes = (uint64_t)n * 8, *be;
	int err;

	*off = 0;
	if (!n)
		return 0;
	be = malloc(bytes);
	if (!be)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		be[i] = htobe64(l1[i]);
	err = qcow2_alloc_clusters(s, (bytes + s->cluster_size - 1) >> s->cluster_bits, off);
	if (!err)
		err = disk_file_pwrite(s->d.fd, be, bytes, *off);
	free(be);
	return err;
}

static int snapshot_create_locked(struct qcow2 *s, const char *name)
{
	struct qcow2_snapshot *ns, *sn;
	unsigned long max_id = 0;
	struct timespec ts;
	char idbuf[24];
	uint64_t l1off;
	int err;

	if (find_snapshot(s, name) >= 0)
		return -EEXIST;
	if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
		return -EFBIG;
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		unsigned long v = strtoul(s->snaps[i].id, NULL, 10);

		if (v > max_id)
			max_id = v;
	}
	snprintf(idbuf, sizeof(idbuf), "%lu", max_id + 1);
	err = qcow2_flush_all(s, true);
	if (err)
		return err;
	/* New references first; this also clears COPIED in the active tables. */
	err = qcow2_ref_l1_tree(s, s->l1, s->l1_size, 1);
	if (!err)
		err = qcow2_l1_write_entries(s, 0, s->l1_size);
	if (!err)
		err = write_l1_copy(s, s->l1, s->l1_size, &l1off);
	if (!err)
		err = qcow2_flush_all(s, true);
	if (err)
		return err;
	ns = realloc(s->snaps, (s->nb_snapshots + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	s->snaps = ns;
	sn = &ns[s->nb_snapshots];
	memset(sn, 0, sizeof(*sn));
	clock_gettime(CLOCK_REALTIME, &ts);
	sn->l1_offset = l1off;
	sn->l1_size = s->l1_size;
	sn->id = strdup(idbuf);
	sn->name = strdup(name);
	sn->date_sec = (uint32_t)ts.tv_sec;
	sn->date_nsec = (uint32_t)ts.tv_nsec;
	sn->disk_size = s->d.size;
	sn->extra_size = 24;
	if (!sn->id || !sn->name) {
		free(sn->id);
		free(sn->name);
		return -ENOMEM;
	}
	s->nb_snapshots++;
	err = qcow2_snapshots_write(s);
	if (!err)
		err = qcow2_flush_all(s, true);
	return err;
}

int qcow2_snapshot_create(struct disk *d, const char *name)
{
	struct qcow2 *s = snap_disk(d);
	int err;

	if (!s || !name || !*name || strlen(name) > 65535)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	err = s->corrupt ? -EIO : snapshot_create_locked(s, name);
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int read_l1(struct qcow2 *s, const struct qcow2_snapshot *sn, uint64_t **out)
{
	uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);
	int err;

	if (!l1)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, l1, (size_t)sn->l1_size * 8, sn->l1_offset);
	for (uint32_t i = 0; i < sn->l1_size; i++)
		l1[i] = be64toh(l1[i]);
	if (err)
		free(l1);
	else
		*out = l1;
	return err;
}

static int snapshot_apply_locked(struct qcow2 *s, int idx)
{
	struct qcow2_snapshot *sn = &s->snaps[idx];
	uint64_t *snl1 = NULL, *old = NULL, be;
	uint32_t old_n = s->l1_size;
	int err;

	err = qcow2_flush_all(s, true);
	if (!err)
		err = read_l1(s, sn, &snl1);
	if (err)
		return err;
	if (sn->l1_size > s->l1_size) {
		err = qcow2_grow_l1(s, sn->l1_size);
		if (err)
			goto out;
		old_n = s->l1_size;
	}
	old = malloc((size_t)old_n * 8 + 8);
	if (!old) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(old, s->l1, (size_t)old_n * 8);
	err = qcow2_ref_l1_tree(s, snl1, sn->l1_size, 1);
	if (!err)
		err = qcow2_flush_all(s, true);
	if (err)
		goto out;
	memset(s->l1, 0, (size_t)s->l1_size * 8);
	for (uint32_t i = 0; i < sn->l1_size; i++)
		s->l1[i] = snl1[i] & ~QCOW2_OFLAG_COPIED;
	err = qcow2_l1_write_entries(s, 0, s->l1_size);
	if (!err && s->d.size != sn->disk_size) {
		be = htobe64(sn->disk_size);
		err = disk_file_pwrite(s->d.fd, &be, 8, 24);
		if (!err)
			s->d.size = sn->disk_size;
	}
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (!err)
		err = qcow2_free_l1_tree(s, old, old_n);
	if (!err)
		err = qcow2_fix_copied(s);
	if (!err)
		err = qcow2_flush_all(s, true);
out:
	free(snl1);
	free(old);
	return err;
}

int qcow2_snapshot_apply(struct disk *d, const char *id_or_name)
{
	struct qcow2 *s = snap_disk(d);
	int err, idx;

	if (!s || !id_or_name)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	idx = find_snapshot(s, id_or_name);
	if (s->corrupt)
		err = -EIO;
	else
		err = idx < 0 ? -ENOENT : snapshot_apply_locked(s, idx);
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int snapshot_delete_locked(struct qcow2 *s, int idx)
{
	struct qcow2_snapshot sn = s->snaps[idx];
	uint64_t *l1 = NULL;
	int err;

	err = qcow2_flush_all(s, true);
	if (!err)
		err = read_l1(s, &sn, &l1);
	if (err)
		return err;
	memmove(&s->snaps[idx], &s->snaps[idx + 1],
		(s->nb_snapshots - (uint32_t)idx - 1) * sizeof(sn));
	s->nb_snapshots--;
	err = qcow2_snapshots_write(s);
	if (!err)
		err = qcow2_free_l1_tree(s, l1, sn.l1_size);
	if (!err && sn.l1_size)
		err = qcow2_refcount_update(s, sn.l1_offset, (uint64_t)sn.l1_size * 8, -1);
	if (!err)
		err = qcow2_fix_copied(s);
	if (!err)
		err = qcow2_flush_all(s, true);
	free(sn.id);
	free(sn.name);
	free(sn.extra_unknown);
	free(l1);
	return err;
}

int qcow2_snapshot_delete(struct disk *d, const char *id_or_name)
{
	struct qcow2 *s = snap_disk(d);
	int err, idx;

	if (!s || !id_or_name)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	idx = find_snapshot(s, id_or_name);
	if (s->corrupt)
		err = -EIO;
	else
		err = idx < 0 ? -ENOENT : snapshot_delete_locked(s, idx);
	pthread_mutex_unlock(&s->lock);
	return err;
}
