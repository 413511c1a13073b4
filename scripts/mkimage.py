#!/usr/bin/env python3
"""Write imagectl's own container image: an OCI image layout and one archive, no daemon.

Called by scripts/build-image.sh (which builds and strips the binary); standard library
only. The root filesystem is one layer:

  /usr/bin/imagectl                 the binary (entrypoint)
  <each library ldd lists>          at the path ldd prints, the loader included
  /etc/ssl/certs/ca-certificates.crt the host's CA bundle
  /etc/passwd, /etc/group           root and `nonroot` (65532), the default user
  /etc/nsswitch.conf                /etc/hosts before DNS
  /home/nonroot, /var/lib/imagectl  owned by 65532 (the default store: IMAGECTL_STORE)
  /tmp                              1777 (daemon stores stage in $TMPDIR)

Reproducible: entries sorted, every mtime SOURCE_DATE_EPOCH, numeric owners without names,
gzip without a name or time; the config's times are the same epoch. The same inputs give the
same manifest digest.

Output in OUT: `oci/` (oci-layout, index.json, blobs/sha256/…) and `imagectl-VERSION.tar`,
that layout plus docker's `manifest.json` (so Engines before 25, which read only that, load
it too). Prints `NAME MANIFEST_DIGEST COMPRESSED_BYTES`.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

NONROOT = 65532
PATH_ENV = "PATH=/usr/bin:/bin"

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


def libraries(binary):
    """Paths of the shared objects the dynamic loader maps for BINARY (ldd), the loader too."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        # `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            paths.append(m.group(1))
        elif "not found" in line:
            sys.exit(f"mkimage: ldd {binary}: {line.strip()}: install the library first")
    if not paths:
        sys.exit(f"mkimage: ldd {binary} listed no libraries (a static binary needs none: "
                 "this script expects a dynamic one)")
    return sorted(set(paths))


class Tree:
    """The root filesystem: path -> (kind, mode, uid, data), written sorted."""

    def __init__(self, mtime):
        self.mtime = mtime
        self.entries = {}

    def dir(self, path, mode=0o755, uid=0):
        path = path.strip("/")
        if not path:
            return
        parts = path.split("/")
        for i in range(1, len(parts)):
            self.entries.setdefault("/".join(parts[:i]), ("dir", 0o755, 0, b""))
        self.entries[path] = ("dir", mode, uid, b"")

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        self.entries[path] = ("file", mode, 0, data)

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, mode, uid, data = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mode, info.uid, info.gid = mode, uid, uid
                info.uname = info.gname = ""
                info.mtime = self.mtime
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    # No file name and mtime 0 in the header: the bytes depend on the content alone.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def full_name(name):
    """docker.io/library/imagectl:0.1.0 for imagectl:0.1.0, as imagectl and containerd name it."""
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True, help="the stripped imagectl binary")
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True, help="image name in the archive, e.g. imagectl:0.1.0")
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--epoch", type=int, required=True, help="SOURCE_DATE_EPOCH")
    p.add_argument("--ca", default="/etc/ssl/certs/ca-certificates.crt")
    a = p.parse_args()
    if not os.path.isfile(a.ca):
        sys.exit(f"mkimage: {a.ca} is missing: apt-get install ca-certificates")

    tree = Tree(a.epoch)
    with open(a.binary, "rb") as f:
        tree.file("usr/bin/imagectl", f.read(), 0o755)
    for lib in libraries(a.binary):
        with open(lib, "rb") as f:  # follows symlinks: the file the loader would map
            tree.file(lib, f.read(), 0o755)
    with open(a.ca, "rb") as f:
        tree.file("etc/ssl/certs/ca-certificates.crt", f.read())
    tree.file("etc/passwd", b"root:x:0:0:root:/root:/usr/sbin/nologin\n"
              b"nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n")
    tree.file("etc/group", b"root:x:0:\nnonroot:x:65532:\n")
    # Without it glibc asks DNS before /etc/hosts (docker --add-host, Kubernetes hostAliases).
    tree.file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    tree.dir("root", 0o700)
    tree.dir("home/nonroot", 0o755, NONROOT)
    tree.dir("var/lib/imagectl", 0o755, NONROOT)
    tree.dir("tmp", 0o1777)

    layer_tar = tree.tar()
    layer = gzip_bytes(layer_tar)
    created = rfc3339(a.epoch)
    labels = {
        "org.opencontainers.image.source": a.source,
        "org.opencontainers.image.version": a.version,
        "org.opencontainers.image.revision": a.revision,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.title": "imagectl",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    config = canonical({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": f"{NONROOT}:{NONROOT}",
            "Env": [PATH_ENV, "HOME=/home/nonroot", "IMAGECTL_STORE=/var/lib/imagectl",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Entrypoint": ["/usr/bin/imagectl"],
            "Cmd": ["--help"],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created": created, "created_by": "scripts/build-image.sh"}],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": MT_LAYER, "digest": sha256(layer), "size": len(layer)}],
        "annotations": {k: v for k, v in labels.items() if k != "org.opencontainers.image.title"},
    })
    name = full_name(a.name)
    index = canonical({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": name,
                            "io.containerd.image.name": name},
        }],
    })
    blobs = {sha256(b): b for b in (layer, config, manifest)}
    files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": index}
    files.update({"blobs/sha256/" + d.split(":")[1]: b for d, b in blobs.items()})

    layout = os.path.join(a.out, "oci")
    for path, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(layout, path)), exist_ok=True)
        with open(os.path.join(layout, path), "wb") as f:
            f.write(data)

    # docker's manifest.json beside the layout: what Engine 20.10 reads (it gunzips layers).
    docker = canonical([{
        "Config": "blobs/sha256/" + sha256(config).split(":")[1],
        "RepoTags": [a.name if ":" in a.name.rsplit("/", 1)[-1] else a.name + ":latest"],
        "Layers": ["blobs/sha256/" + sha256(layer).split(":")[1]],
    }])
    archive = Tree(a.epoch)
    for path, data in {**files, "manifest.json": docker}.items():
        archive.file(path, data)
    with open(os.path.join(a.out, f"imagectl-{a.version}.tar"), "wb") as f:
        f.write(archive.tar())
    print(a.name, sha256(manifest), len(layer) + len(config) + len(manifest))


if __name__ == "__main__":
    main()
