// SPDX-License-Identifier: GPL-2.0
/* The objects netmonctl owns, and opening them from their pins. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "nm.h"

/* Indexed by enum nm_hook; pin names double as `status` names. */
const struct nm_prog_desc nm_progs[NM_HOOK_MAX] = {
	{ "connect4", "cgroup/connect4", NM_HOOK_CONNECT4, BPF_CGROUP_INET4_CONNECT, NM_LAYER_CGROUP },
	{ "connect6", "cgroup/connect6", NM_HOOK_CONNECT6, BPF_CGROUP_INET6_CONNECT, NM_LAYER_CGROUP },
	{ "sendmsg4", "cgroup/sendmsg4", NM_HOOK_SENDMSG4, BPF_CGROUP_UDP4_SENDMSG, NM_LAYER_CGROUP },
	{ "sendmsg6", "cgroup/sendmsg6", NM_HOOK_SENDMSG6, BPF_CGROUP_UDP6_SENDMSG, NM_LAYER_CGROUP },
	{ "lsm_connect", "lsm/socket_connect", NM_HOOK_LSM_CONNECT, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "lsm_bind", "lsm/socket_bind", NM_HOOK_LSM_BIND, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "lsm_listen", "lsm/socket_listen", NM_HOOK_LSM_LISTEN, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "lsm_accept", "lsm/socket_accept", NM_HOOK_LSM_ACCEPT, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "lsm_sendmsg", "lsm/socket_sendmsg", NM_HOOK_LSM_SENDMSG, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "lsm_recvmsg", "lsm/socket_recvmsg", NM_HOOK_LSM_RECVMSG, BPF_LSM_MAC, NM_LAYER_LSM },
	{ "bind4", "cgroup/bind4", NM_HOOK_BIND4, BPF_CGROUP_INET4_BIND, NM_LAYER_CGROUP },
	{ "bind6", "cgroup/bind6", NM_HOOK_BIND6, BPF_CGROUP_INET6_BIND, NM_LAYER_CGROUP },
	{ "sock_create", "cgroup/sock_create", NM_HOOK_SOCK_CREATE, BPF_CGROUP_INET_SOCK_CREATE,
	  NM_LAYER_CGROUP },
};

const char *const nm_map_names[] = { NM_MAP_HOSTS, NM_MAP_NETS, NM_MAP_BUCKETS, NM_MAP_CONFIG,
				     NM_MAP_META, NM_MAP_COUNTERS, NM_MAP_EVENTS, NM_MAP_PORT_SETS,
				     NM_MAP_SET_RULES, NM_MAP_SCOPES, NM_MAP_SCOPE_CTX, NM_MAP_SCOPE_IDS, NM_MAP_RULE_HITS,
				     NM_MAP_RULE_NOTES, NULL };

const char *nm_layer_name(enum nm_layer l)
{
	return l == NM_LAYER_LSM ? "lsm" : "cgroup";
}

const struct nm_prog_desc *nm_prog_by_name(const char *name)
{
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++)
		if (!strcmp(nm_progs[i].name, name))
			return &nm_progs[i];
	return NULL;
}

static int nm_open_pin(const char *sub, const char *name)
{
	char path[NM_PATH_MAX];
	int fd;

	if (nm_pin_path(path, sizeof(path), sub, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int nm_open_map(const char *name)
{
	return nm_open_pin("maps", name);
}

int nm_open_prog(const char *name)
{
	return nm_open_pin("progs", name);
}

/* The first size bytes of entry 0 of a pinned array, whatever its value
 * size was in the layout that wrote it (zero-filled past a shorter one). */
int nm_array_read_raw(const char *name, uint32_t key, void *out, size_t size)
{
	uint8_t buf[4096] = {};
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int fd = nm_open_map(name), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else if (info.key_size != sizeof(key) || info.value_size > sizeof(buf) || size > sizeof(buf))
		err = -EPROTO;
	else if (bpf_map_lookup_elem(fd, &key, buf))
		err = -errno;
	close(fd);
	memcpy(out, buf, size);
	return err;
}

/* The layout of the pinned state: config's first field. */
int nm_pinned_layout(uint32_t *version)
{
	return nm_array_read_raw(NM_MAP_CONFIG, 0, version, sizeof(*version));
}

/* A pinned map of another layout is refused rather than misread. */
int nm_map_check(int fd, const char *name, uint32_t key_size, uint32_t value_size)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), layout = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.key_size == key_size && info.value_size == value_size)
		return 0;
	if (nm_pinned_layout(&layout) == 0 && layout >= NM_LAYOUT_MIGRATES_FROM && layout < NM_LAYOUT_VERSION)
		nm_fail(NM_EXIT_RUNTIME, name,
			"the pinned state has layout %u: 'netmonctl load' migrates it to layout %d "
			"and keeps every rule enforced", layout, NM_LAYOUT_VERSION);
	else
		nm_fail(NM_EXIT_RUNTIME, name,
			"pinned map has key/value size %u/%u, this netmonctl expects %u/%u "
			"(layout %d): 'netmonctl unload' first, or use the netmonctl that loaded it",
			info.key_size, info.value_size, key_size, value_size, NM_LAYOUT_VERSION);
	return -EPROTO;
}

static int nm_array_rw(const char *name, uint32_t key, void *val, size_t size, bool write)
{
	int fd = nm_open_map(name), err;

	if (fd < 0)
		return fd;
	err = nm_map_check(fd, name, sizeof(key), size);
	if (!err) {
		if (write)
			err = bpf_map_update_elem(fd, &key, val, BPF_ANY) ? -errno : 0;
		else
			err = bpf_map_lookup_elem(fd, &key, val) ? -errno : 0;
	}
	close(fd);
	return err;
}

int nm_config_read(struct nm_config *cfg)
{
	return nm_array_rw(NM_MAP_CONFIG, 0, cfg, sizeof(*cfg), false);
}

int nm_config_write(const struct nm_config *cfg)
{
	return nm_array_rw(NM_MAP_CONFIG, 0, (void *)cfg, sizeof(*cfg), true);
}

int nm_meta_read_gen(uint32_t gen, struct nm_meta *m)
{
	return nm_array_rw(NM_MAP_META, gen & 1, m, sizeof(*m), false);
}

int nm_meta_write_gen(uint32_t gen, const struct nm_meta *m)
{
	return nm_array_rw(NM_MAP_META, gen & 1, (void *)m, sizeof(*m), true);
}

/*
 * The counts of what the hooks see. No lock: the active generation's meta
 * is written before the switch to it, and an edit that starts after the
 * switch writes the other one; a reread of active_gen catches an edit that
 * switched meanwhile.
 */
int nm_meta_read(struct nm_meta *m, uint32_t *gen_out)
{
	struct nm_config a, b;
	int tries, err = nm_config_read(&a);

	for (tries = 0; !err && tries < 8; tries++) {
		err = nm_meta_read_gen(a.active_gen, m);
		if (!err)
			err = nm_config_read(&b);
		if (err || a.active_gen == b.active_gen)
			break;
		a = b;
	}
	if (!err && gen_out)
		*gen_out = a.active_gen & 1;
	return err;
}

/* Sum the per-CPU counters of every hook. */
int nm_counters_read(struct nm_counters out[NM_HOOK_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	int fd, err = 0;
	uint32_t h;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	fd = nm_open_map(NM_MAP_COUNTERS);
	if (fd < 0)
		return fd;
	{
		struct nm_counters percpu[ncpu];

		for (h = 0; h < NM_HOOK_MAX && !err; h++) {
			int c;

			memset(&out[h], 0, sizeof(out[h]));
			if (bpf_map_lookup_elem(fd, &h, percpu)) {
				err = -errno;
				break;
			}
			for (c = 0; c < ncpu; c++) {
				out[h].checked += percpu[c].checked;
				out[h].denied += percpu[c].denied;
				out[h].audited += percpu[c].audited;
				out[h].rb_drops += percpu[c].rb_drops;
			}
		}
	}
	close(fd);
	return err;
}

/* Unpin what netmonctl pinned, by name (and a `<prog>__new` a stopped load
 * left); other pins in progs/ and maps/ stay. */
/* The meta pins of layouts 2 to 5: state of an older netmonctl, which a
 * migration moved or an unload of this one takes too. */
int nm_unpin_old_meta(void)
{
	static const char *const names[] = { NM_MAP_META_LAYOUT2, NM_MAP_META_LAYOUT3,
					     NM_MAP_META_LAYOUT4, NM_MAP_META_LAYOUT5, NM_MAP_META_LAYOUT6 };
	char path[NM_PATH_MAX];
	size_t i;
	int err = 0, e;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		nm_pin_path(path, sizeof(path), "maps", names[i]);
		e = nm_unpin(path);
		err = err ?: e;
	}
	return err;
}

int nm_unpin_objects(void)
{
	char path[NM_PATH_MAX], tmp[NM_PATH_MAX + 8];
	int i, err = 0, e;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		nm_pin_path(path, sizeof(path), "progs", nm_progs[i].name);
		snprintf(tmp, sizeof(tmp), "%s__new", path);
		nm_unpin(tmp);
		e = nm_unpin(path);
		err = err ?: e;
	}
	for (i = 0; nm_map_names[i]; i++) {
		if (!strcmp(nm_map_names[i], NM_MAP_CONFIG))
			continue;
		nm_pin_path(path, sizeof(path), "maps", nm_map_names[i]);
		e = nm_unpin(path);
		err = err ?: e;
	}
	e = nm_unpin_old_meta();
	err = err ?: e;
	/* config last: it is what says "loaded", so a failed unload can be run again */
	nm_pin_path(path, sizeof(path), "maps", NM_MAP_CONFIG);
	return err ?: nm_unpin(path);
}
