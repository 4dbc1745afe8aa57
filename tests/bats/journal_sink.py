#!/usr/bin/env python3
"""A stand-in for journald's native socket, for tests on hosts without it.

journal_sink.py SOCKET OUT: bind a unix datagram socket at SOCKET and append
every entry received to OUT as one JSON object per line (field -> value),
decoding both forms of the native protocol: `NAME=value` lines and `NAME`,
newline, 64-bit little-endian length, bytes, newline. A datagram that breaks
the protocol is written as {"_BAD": "..."} so the test sees it. Runs until
killed; OUT is flushed after every entry.
"""
import json
import os
import socket
import struct
import sys


def parse(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            i = nl + 1
        else:
            name = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            value = data[start:start + size]
            if data[start + size:start + size + 1] != b"\n":
                raise ValueError("binary field %r not ended by a newline" % name)
            i = start + size + 1
        if not name or not all(c.isupper() or c.isdigit() or c == "_" for c in name.decode()):
            raise ValueError("bad field name %r" % name)
        fields[name.decode()] = value.decode("utf-8", "replace")
    return fields


def main():
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o600)
    with open(out, "a") as f:
        while True:
            data = s.recv(1 << 16)
            try:
                entry = parse(data)
            except (ValueError, struct.error) as e:
                entry = {"_BAD": str(e)}
            f.write(json.dumps(entry) + "\n")
            f.flush()


main()
