"""Run a command where namespaces cannot be made, as in a Docker container (and so on Gradescope).

    python nonamespace.py [--no-landlock] [--no-seccomp] [--] COMMAND [ARG]...

Installs a seccomp filter on itself, then execs COMMAND, which inherits it: ``unshare`` and
``setns`` fail with EPERM, ``clone`` with any ``CLONE_NEW*`` flag fails with EPERM, and ``clone3``
fails with ENOSYS (so glibc falls back to ``clone``, where the flags are visible), as Docker's
default seccomp profile does for a container without CAP_SYS_ADMIN. Like Docker, it does not set
no_new_privs (root may load a filter without it), so the uid drop still works under it.
Everything else is allowed: the grader must find bubblewrap failing and contain its workers
with Landlock + seccomp. ``--no-landlock`` also makes the Landlock syscalls fail with ENOSYS, as
on a kernel older than 5.13: then the grader must pick its seccomp mode (seccomp + the uid
drop + proven file permissions). ``--no-seccomp`` also makes loading a seccomp filter fail
(``seccomp()`` ENOSYS, ``prctl(PR_SET_SECCOMP)`` EINVAL, as on a kernel built without it):
with ``--no-landlock`` too, nothing can contain student code.
"""

import errno
import os
import sys

import pyseccomp

CLONE_NEW_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}


PR_SET_SECCOMP = 22


def no_namespaces(no_landlock=False, no_seccomp=False):
    f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    f.set_attr(pyseccomp.Attr.CTL_NNP, 0)
    eperm = pyseccomp.ERRNO(errno.EPERM)
    f.add_rule(eperm, "unshare")
    f.add_rule(eperm, "setns")
    for flag in CLONE_NEW_FLAGS.values():  # rules on one syscall are alternatives: any of the flags set
        f.add_rule(eperm, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    f.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    if no_landlock:
        for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
            f.add_rule(pyseccomp.ERRNO(errno.ENOSYS), name)
    if no_seccomp:
        f.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "seccomp")
        f.add_rule(pyseccomp.ERRNO(errno.EINVAL), "prctl", pyseccomp.Arg(0, pyseccomp.EQ, PR_SET_SECCOMP))
    f.load()


def main(argv):
    flags = set()
    while argv and argv[0] in ("--no-landlock", "--no-seccomp"):
        flags.add(argv[0])
        argv = argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise SystemExit(__doc__)
    no_namespaces("--no-landlock" in flags, "--no-seccomp" in flags)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
