"""A stand-in for qemu-system-x86_64 and qemu-img in boot-test's unit tests.

Installed on PATH under both names (the name it is called by decides which it is). Every
call is logged as a JSON line to $FAKE_QEMU_LOG. The guest's behaviour comes from the JSON
file $FAKE_QEMU_SCENARIO:
  console   [[seconds, text], ...] written to the serial console file, with pauses
  kvm       "hang" (nothing on the console, never exits) or "internal-error" when run with KVM
  ssh       true: answer on the forwarded port with an SSH banner once the console is written
  stderr    text qemu prints
  exit      an exit status once the console is written (default: run until killed)
  format    what `qemu-img info` reports (default qcow2); "fail" makes it fail
  head      hex of the disk's first sectors for `qemu-img dd` (default: zeros)
"""
import json
import os
import socket
import sys
import time


def log(entry):
    with open(os.environ["FAKE_QEMU_LOG"], "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def scenario():
    with open(os.environ["FAKE_QEMU_SCENARIO"]) as handle:
        return json.load(handle)


def qemu_img(argv, s):
    log({"tool": "qemu-img", "argv": argv})
    if argv[0] == "info":
        if s.get("format") == "fail":
            sys.stderr.write("qemu-img: Could not open '{}': Image is not in qcow2 format\n".format(argv[-1]))
            return 1
        print(json.dumps({"format": s.get("format", "qcow2"), "virtual-size": 2147483648, "filename": argv[-1]}))
        return 0
    if argv[0] == "create":
        with open(argv[-1], "w") as handle:
            handle.write("overlay of " + argv[argv.index("-b") + 1])
        return 0
    if argv[0] == "dd":
        out = [a[3:] for a in argv if a.startswith("of=")][0]
        with open(out, "wb") as handle:
            handle.write(bytes.fromhex(s["head"]) if s.get("head") else b"\0" * 512 * 34)
        return 0
    return 2


def qemu(argv, s):
    console = port = None
    for i, arg in enumerate(argv):
        if arg.startswith("file,id=console,path="):
            console = arg.split("path=", 1)[1]
        if "hostfwd=tcp:127.0.0.1:" in arg:
            port = int(arg.split("hostfwd=tcp:127.0.0.1:", 1)[1].split("-", 1)[0])
    accel = argv[argv.index("-accel") + 1]
    log({"tool": "qemu", "argv": argv, "pid": os.getpid()})
    kvm = s.get("kvm") if accel == "kvm" else None
    if kvm == "internal-error":
        sys.stderr.write("KVM internal error. Suberror: 1\nemulation failure\n")
        sys.stderr.flush()
        while True:
            time.sleep(1)
    if kvm == "hang":
        while True:
            time.sleep(1)
    if s.get("stderr"):
        sys.stderr.write(s["stderr"])
        sys.stderr.flush()
    with open(console, "a") as handle:
        for delay, text in s.get("console", []):
            time.sleep(delay)
            handle.write(text)
            handle.flush()
    if s.get("exit") is not None:
        return s["exit"]
    listener = None
    if s.get("ssh"):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(5)
    while True:
        if listener is None:
            time.sleep(1)
            continue
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        conn.close()


def main(name):
    s = scenario()
    if name == "qemu-img":
        return qemu_img(sys.argv[1:], s)
    return qemu(sys.argv[1:], s)


if __name__ == "__main__":
    sys.exit(main(os.path.basename(sys.argv[0])))
