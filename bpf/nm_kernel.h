/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel-internal types the LSM programs read, declared by hand
 * with preserve_access_index so that libbpf relocates every field access
 * against the running kernel's BTF (CO-RE). This replaces a generated
 * vmlinux.h: the build needs no BTF on the build machine, and one object
 * runs on every kernel from 5.10 on. Only field NAMES matter here; the
 * kernel's real layout (including anonymous unions around skc_daddr and
 * friends) is found at load time.
 */
#ifndef NM_KERNEL_H
#define NM_KERNEL_H

#define NM_CORE __attribute__((preserve_access_index))

struct in6_addr___nm {
	__u8 u6_addr8[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr___nm skc_v6_daddr;
	struct in6_addr___nm skc_v6_rcv_saddr;
} NM_CORE;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol; /* a u16 since 5.6; every supported kernel has it */
} NM_CORE;

struct socket {
	short type;
	struct sock *sk;
} NM_CORE;

struct msghdr {
	void *msg_name;
	int msg_namelen;
	unsigned long msg_controllen;
} NM_CORE;

/* The task's cgroup v2 and its ancestors, for the LSM layer's scopes:
 * read with CO-RE probe reads from bpf_get_current_task(), since 5.10
 * gives LSM programs no bpf_get_current_ancestor_cgroup_id (the verifier
 * said "unknown func" there) and no BTF task pointer. */
struct kernfs_node {
	__u64 id; /* the cgroup id user space sees (a u64 since 5.5) */
} NM_CORE;

struct cgroup_subsys_state {
	struct cgroup_subsys_state *parent;
} NM_CORE;

struct cgroup {
	struct cgroup_subsys_state self; /* first: a css's parent is its cgroup's */
	int level;
	struct kernfs_node *kn;
} NM_CORE;

struct css_set {
	struct cgroup *dfl_cgrp;
} NM_CORE;

struct task_struct {
	struct css_set *cgroups;
} NM_CORE;

/* uapi layouts (stable ABI): read with plain probe reads, no relocation. */
struct nm_sockaddr_in {
	__u16 sin_family;
	__be16 sin_port;
	__be32 sin_addr;
};

struct nm_sockaddr_in6 {
	__u16 sin6_family;
	__be16 sin6_port;
	__be32 sin6_flowinfo;
	__u8 sin6_addr[16];
};

#endif
