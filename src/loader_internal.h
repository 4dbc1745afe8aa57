/* SPDX-License-Identifier: GPL-2.0 */
/* What loader.c and loader_migrate.c share: both hold the skeleton. */
#ifndef NM_LOADER_INTERNAL_H
#define NM_LOADER_INTERNAL_H

#include "nm.h"
#include "netmonctl.skel.h"

struct bpf_program *nm_skel_prog(struct netmonctl_bpf *skel, const struct nm_prog_desc *d);
uint64_t nm_now_ns(void);
int nm_pin_replace(int fd, const char *sub, const char *name);

/* loader_migrate.c: pins of layouts 2-6 into this one */
bool nm_map_migrates(struct netmonctl_bpf *skel, const struct bpf_map *map, uint32_t from);
int nm_migrate_state(struct netmonctl_bpf *skel, uint32_t from);
int nm_pin_migrated(struct netmonctl_bpf *skel, uint32_t from);
extern uint64_t nm_migrated_slots;

struct nm_relink {
	struct netmonctl_bpf *skel;
	bool recreate; /* the old programs had no scope storage (layout < 7) */
	int updated;
	int err;
};

int nm_relink_one(const char *name, int link_fd, void *arg); /* an nm_link_cb */

#endif
