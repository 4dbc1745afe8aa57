// SPDX-License-Identifier: GPL-2.0
/* What the running kernel can do, found by asking it, not by guessing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "nm.h"

/*
 * `bpf` in the lsm list is not enough: a kernel can list it and still
 * refuse every trampoline program (this project's CI host does, EPERM).
 * So load the smallest possible LSM program and see.
 */
static int nm_probe_lsm_once(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC);
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id, fd;

	if (!vmlinux)
		return -ENOENT;
	id = btf__find_by_name_kind(vmlinux, "bpf_lsm_socket_connect", BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id < 0)
		return -ENOENT;
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "nm_probe", "GPL", insns, 2, &opts);
	if (fd < 0)
		return -errno;
	/* Loading is not attaching: an LSM program must also get a trampoline. */
	id = bpf_raw_tracepoint_open(NULL, fd);
	if (id < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(id);
	close(fd);
	return 0;
}

/* One answer per process: status asks for every LSM program. */
int nm_probe_lsm(void)
{
	static int cached = 1;

	if (cached == 1)
		cached = nm_probe_lsm_once();
	return cached;
}

const char *nm_lsm_reason(int err)
{
	static char buf[160];

	if (err == -ENOENT)
		return "no kernel BTF or no bpf_lsm_socket_connect: BPF-LSM not built in";
	if (err == -EINVAL)
		return "kernel rejected a BPF-LSM program (EINVAL): is 'bpf' in lsm= on the kernel command line?";
	/* Loads, then the attach finds no BPF trampoline for the hook: arm64
	 * has none before 6.0, and none on ftrace-managed functions (every
	 * LSM hook) before 6.4 brought it ftrace direct calls. */
	if (err == -NM_ENOTSUPP)
		return "kernel cannot attach BPF-LSM programs (ENOTSUPP): no BPF trampoline for its LSM "
		       "hooks (arm64: only from Linux 6.4 on)";
	snprintf(buf, sizeof(buf), "kernel refused a BPF-LSM program: %s (%s)", strerror(-err),
		 nm_errno_name(err));
	return buf;
}

uint32_t nm_probe_ctx_helpers(void)
{
	static const struct {
		enum bpf_func_id id;
		uint32_t bit;
	} helpers[] = {
		{ BPF_FUNC_get_current_pid_tgid, NM_HELPER_PID_TGID },
		{ BPF_FUNC_get_current_comm, NM_HELPER_COMM },
		{ BPF_FUNC_get_current_cgroup_id, NM_HELPER_CGROUP_ID },
		{ BPF_FUNC_loop, NM_HELPER_LOOP }, /* a base helper: every program type has it */
	};
	uint32_t bits = 0;
	size_t i;

	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, helpers[i].id, NULL) == 1)
			bits |= helpers[i].bit;
	return bits;
}

static int nm_read_lsm_list(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/security/lsm", "re");

	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static bool nm_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return true;
		p += n;
	}
	return false;
}

void nm_probe_kernel(struct nm_kernel *k, const struct nm_config *loaded)
{
	struct utsname u;
	int err;

	memset(k, 0, sizeof(*k));
	if (uname(&u) == 0)
		snprintf(k->release, sizeof(k->release), "%s", u.release);
	k->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	k->bpffs = nm_on_bpffs("/sys/fs/bpf") || nm_on_bpffs(nm_opts.pin_dir);
	if (nm_cgroup2_mount(k->cgroup2, sizeof(k->cgroup2)))
		k->cgroup2[0] = 0;
	if (nm_read_lsm_list(k->lsm_list, sizeof(k->lsm_list)) == 0)
		k->lsm_active = nm_list_has(k->lsm_list, "bpf");
	else
		k->lsm_active = -1;
	/* Probing loads programs and parses the kernel's BTF (tens of ms): when
	 * netmonctl is loaded, `load` already asked this boot's kernel. */
	if (loaded) {
		err = loaded->lsm_errno;
		k->ctx_helpers = loaded->ctx_helpers;
	} else {
		err = nm_probe_lsm();
		k->ctx_helpers = nm_probe_ctx_helpers();
	}
	k->lsm_loadable = err == 0;
	k->lsm_errno = err;
}
