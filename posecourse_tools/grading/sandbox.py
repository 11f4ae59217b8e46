"""Sandbox setup for one worker: runs as root as PID 1 of fresh PID, mount, network, IPC and UTS namespaces.

Started by the grader as
    ``unshare --pid --fork --kill-child --mount --net --ipc --uts -- python -P -m posecourse_tools.grading.sandbox CONFIG``
(``-P`` and a working folder of its own: no file of the student's can shadow a module of this root process)
it builds a new root on a size-capped tmpfs that holds only
    read-only, nosuid binds of the system and Python folders the worker needs (``CONFIG["ro"]``: never the
    course directory, never the repository's ``solutions/``), ``/dev/{null,zero,full,random,urandom}``,
    a fresh ``/proc`` of this PID namespace (``hidepid=2``), ``/tmp`` and ``/home/student`` (a copy of the
    student's files, owned by the worker uid: the only writable places, inside the capped tmpfs),
pivots into it, detaches the old root, then forks the worker through ``setpriv`` (uid/gid ``CONFIG["uid"]``,
no groups, ``no_new_privs``, empty capability sets) under rlimits, and waits. When the worker exits, PID 1 exits
and the kernel kills everything else left in the namespace (detached ``setsid`` children included); when the
grader kills PID 1 (time limit), the same happens. The network namespace has no interface up.

Any failure before the worker starts prints ``posecourse sandbox: cannot isolate the worker: ...`` and exits
with status 70: the grader then refuses to grade (it never falls back to an unisolated worker by itself).
"""
from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import shutil
import sys
from pathlib import Path

SETUP_FAILED = 70
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ("null", "zero", "full", "random", "urandom")
RLIMITS = {"RLIMIT_CORE": 0, "RLIMIT_NOFILE": 256, "RLIMIT_NPROC": 256}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype=None, flags=0, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or ''} {target}")


def _bind_ro(path: Path, root: Path) -> None:
    inside = root / path.relative_to("/")
    if path.is_symlink():                       # e.g. /bin -> usr/bin on merged-/usr systems
        inside.parent.mkdir(parents=True, exist_ok=True)
        inside.symlink_to(os.readlink(path))
        return
    if path.is_dir():
        inside.mkdir(parents=True, exist_ok=True)
    else:
        inside.parent.mkdir(parents=True, exist_ok=True)
        inside.touch()
    mount(path, inside, flags=MS_BIND)
    mount(None, inside, flags=MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _copy_files(src: Path, dst: Path, uid: int, gid: int) -> None:
    dst.mkdir(parents=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
    for path in [dst, *dst.rglob("*")]:
        os.lchown(path, uid, gid)


def build_root(cfg: dict) -> None:
    """Mount namespace steps (as root, PID 1): everything the worker will see."""
    root = Path(cfg["root"])
    mount(None, "/", flags=MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID, f"size={int(cfg['tmpfs_mb'])}m,mode=755")
    for path in cfg["ro"]:
        _bind_ro(Path(path), root)
    (root / "dev").mkdir(exist_ok=True)
    for name in DEVICES:
        (root / "dev" / name).touch()
        mount(f"/dev/{name}", root / "dev" / name, flags=MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        (root / "dev" / name).symlink_to(target)
    for name in ("tmp", "dev/shm"):
        (root / name).mkdir(exist_ok=True)
        os.chmod(root / name, 0o1777)
    _copy_files(Path(cfg["files"]), root / "home" / "student", cfg["uid"], cfg["gid"])
    (root / "proc").mkdir(exist_ok=True)
    os.chdir(root)
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    except OSError:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if Path(cfg["course"]).exists() or Path(cfg["files"]).exists():
        raise OSError(0, "the course directory is still visible after pivot_root")


def start_worker(cfg: dict) -> int:
    """Fork the worker: rlimits, then ``setpriv`` to the unprivileged uid with no_new_privs and no capabilities."""
    setpriv = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if setpriv is None:
        raise OSError(0, "setpriv (util-linux) not found")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/student", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "PYTHONPATH": cfg["pythonpath"], "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "OMP_NUM_THREADS": "1", "IPYTHONDIR": "/tmp/.ipython"}
    argv = [setpriv, f"--reuid={cfg['uid']}", f"--regid={cfg['gid']}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--", cfg["python"], "-P", "-m",
            "posecourse_tools.grading.worker"]
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir("/home/student")
            os.nice(10)                 # a busy student cannot starve the grader that times it
            for name, value in {**RLIMITS, **cfg["rlimits"]}.items():
                resource.setrlimit(getattr(resource, name), (int(value), int(value)))
            os.execve(setpriv, argv, env)
        except BaseException as exc:  # noqa: BLE001 - the forked child must never return
            print(f"posecourse sandbox: cannot isolate the worker: starting it: {exc}", file=sys.stderr, flush=True)
        finally:
            os._exit(SETUP_FAILED)
    return pid


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    try:
        if os.getpid() != 1:
            raise OSError(0, "not PID 1 of a new PID namespace (run through `unshare --pid --fork`)")
        build_root(cfg)
        worker = start_worker(cfg)
    except Exception as exc:  # noqa: BLE001 - every failure means: no isolation, refuse
        print(f"posecourse sandbox: cannot isolate the worker: {exc}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    for fd in (0, 1):       # only the worker talks to the grader
        os.close(fd)
    while True:             # PID 1: reap orphans until the worker itself exits, then take the namespace down
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == worker:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main(sys.argv[1:])
