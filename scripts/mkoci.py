#!/usr/bin/env python3
"""Write small (or large) test images into an OCI image layout, without docker.

Standard library only (tarfile, gzip, hashlib, json), so it runs on a fresh Debian
machine. Used by scripts/quickstart.sh and benches/pull.sh; the images are pushed to a
registry afterwards with `skopeo copy oci:LAYOUT:REF docker://HOST/REPO:TAG`.

Subcommands (LAYOUT is created when missing; refs are `org.opencontainers.image.ref.name`):

  many LAYOUT --count N [--prefix img-]      N images sharing one base layer, each with one
                                              small unique layer; refs PREFIX001 ... PREFIXNNN
  big LAYOUT --ref REF --layers K --layer-mib M [--content random|usr]
                                              one image of K layers, each a tar holding one
                                              file of M MiB: random data (stored
                                              uncompressed inside the gzip stream), or
                                              the bytes of this host's /usr files, which
                                              compress like ordinary image content (about 2:1)
                                              (gzip -6)
  multiarch LAYOUT --ref REF                  an image index with linux/amd64 and
                                              linux/arm64/v8 images that differ
  single LAYOUT --ref REF [--text TEXT]       one small image whose /hello.txt holds TEXT

Output: one line per ref, `REF MANIFEST_DIGEST`.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile

EPOCH = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # EPOCH as a Unix time


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def flush(self):
        if self.inner is not None:
            self.inner.flush()

    def digest(self):
        return "sha256:" + self.sha.hexdigest()


class RandomReader:
    """A readable file object yielding `size` bytes from os.urandom."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        n = min(n, 1 << 20)
        self.left -= n
        return os.urandom(n)


class UsrReader:
    """A readable file object yielding `size` bytes of this host's /usr files, in path order
    and resumed where the previous reader stopped: ordinary content (binaries, libraries,
    text) that gzip compresses about 2:1, and no two layers alike."""

    files = None
    position = 0

    def __init__(self, size):
        self.left = size
        self.current = None
        if UsrReader.files is None:
            UsrReader.files = []
            for top in ("/usr/lib", "/usr/share", "/usr/bin"):
                for root, dirs, names in os.walk(top):
                    dirs.sort()
                    for n in sorted(names):
                        path = os.path.join(root, n)
                        if os.path.isfile(path) and not os.path.islink(path):
                            UsrReader.files.append(path)

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        n = min(n, 1 << 20)
        out = b""
        while len(out) < n:
            if self.current is None:
                path = UsrReader.files[UsrReader.position % len(UsrReader.files)]
                UsrReader.position += 1
                try:
                    self.current = open(path, "rb")
                except OSError:
                    continue
            chunk = self.current.read(n - len(out))
            if not chunk:
                self.current.close()
                self.current = None
                continue
            out += chunk
        self.left -= len(out)
        return out


class Layout:
    def __init__(self, path):
        self.path = path
        self.blobs = os.path.join(path, "blobs", "sha256")
        self.gzip_level = 6
        os.makedirs(self.blobs, exist_ok=True)
        marker = os.path.join(path, "oci-layout")
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                json.dump({"imageLayoutVersion": "1.0.0"}, f)
        index = os.path.join(path, "index.json")
        if os.path.exists(index):
            with open(index) as f:
                self.index = json.load(f)
        else:
            self.index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}

    def blob_path(self, digest):
        return os.path.join(self.blobs, digest.split(":", 1)[1])

    def put_bytes(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return digest, len(data)

    def put_json(self, obj):
        return self.put_bytes(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())

    def put_layer(self, entries, filler=RandomReader):
        """entries: list of (name, bytes | int size of `filler` data). Returns (digest, size, diff_id)."""
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".layer-")
        with os.fdopen(fd, "wb") as out:
            compressed = HashingWriter(out)
            gz = gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=self.gzip_level, mtime=0, filename="")
            uncompressed = HashingWriter(gz)
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                dirs = set()
                for name, content in entries:
                    parts = name.split("/")[:-1]
                    for i in range(1, len(parts) + 1):
                        d = "/".join(parts[:i])
                        if d not in dirs:
                            dirs.add(d)
                            info = tarfile.TarInfo(d)
                            info.type = tarfile.DIRTYPE
                            info.mode = 0o755
                            info.mtime = MTIME
                            tar.addfile(info)
                    info = tarfile.TarInfo(name)
                    info.mode = 0o644
                    info.mtime = MTIME
                    if isinstance(content, int):
                        info.size = content
                        tar.addfile(info, filler(content))
                    else:
                        info.size = len(content)
                        tar.addfile(info, io.BytesIO(content))
            gz.close()
        digest = compressed.digest()
        os.rename(tmp, self.blob_path(digest))
        return digest, compressed.size, uncompressed.digest()

    def put_image(self, layers, arch="amd64", variant=None, cmd=None, env=None, label=None):
        """layers: list of (digest, size, diff_id). Returns (manifest digest, manifest size)."""
        config = {
            "architecture": arch,
            "os": "linux",
            "created": EPOCH,
            "config": {
                "Cmd": cmd or ["/bin/sh"],
                "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Labels": {"org.example.fixture": label or "mkoci"},
            },
            "rootfs": {"type": "layers", "diff_ids": [l[2] for l in layers]},
            "history": [{"created": EPOCH, "created_by": "mkoci.py layer %d" % i} for i in range(len(layers))],
        }
        if variant:
            config["variant"] = variant
        cdigest, csize = self.put_json(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                for d, s, _ in layers
            ],
        }
        return self.put_json(manifest)

    def tag(self, ref, digest, size, media_type="application/vnd.oci.image.manifest.v1+json"):
        self.index["manifests"] = [
            m for m in self.index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref
        ]
        self.index["manifests"].append(
            {"mediaType": media_type, "digest": digest, "size": size,
             "annotations": {"org.opencontainers.image.ref.name": ref}}
        )
        print(ref, digest)

    def save(self):
        tmp = os.path.join(self.path, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.index, f, separators=(",", ":"))
        os.rename(tmp, os.path.join(self.path, "index.json"))


def base_layer(layout):
    return layout.put_layer([
        ("etc/os-release", b"NAME=mkoci-base\nID=mkoci\n"),
        ("etc/motd", b"shared base layer\n"),
        ("usr/share/base/data.bin", bytes(range(256)) * 64),
    ])


def cmd_many(a):
    layout = Layout(a.layout)
    base = base_layer(layout)
    width = max(3, len(str(a.count)))
    for i in range(1, a.count + 1):
        name = "%s%0*d" % (a.prefix, width, i)
        own = layout.put_layer([("app/%s.txt" % name, ("image %s\n" % name).encode() * 16)])
        digest, size = layout.put_image([base, own], cmd=["/app/%s.txt" % name], label=name)
        layout.tag(name, digest, size)
    layout.save()


def cmd_big(a):
    layout = Layout(a.layout)
    filler = RandomReader
    if a.content == "usr":
        filler = UsrReader
    else:
        # Random data does not compress: store it (gzip level 0), which is valid gzip and fast.
        layout.gzip_level = 0
    layers = []
    for i in range(a.layers):
        layers.append(layout.put_layer([("data/blob%d.bin" % i, a.layer_mib << 20)], filler))
    digest, size = layout.put_image(layers, label=a.ref)
    layout.tag(a.ref, digest, size)
    layout.save()


def cmd_multiarch(a):
    layout = Layout(a.layout)
    base = base_layer(layout)
    entries = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        plat = arch + ("/" + variant if variant else "")
        own = layout.put_layer([("platform.txt", ("linux/%s\n" % plat).encode())])
        digest, size = layout.put_image([base, own], arch=arch, variant=variant, cmd=["/platform.txt"], label=plat)
        p = {"architecture": arch, "os": "linux"}
        if variant:
            p["variant"] = variant
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                        "size": size, "platform": p})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    digest, size = layout.put_json(index)
    layout.tag(a.ref, digest, size, "application/vnd.oci.image.index.v1+json")
    layout.save()


def cmd_single(a):
    layout = Layout(a.layout)
    base = base_layer(layout)
    own = layout.put_layer([("hello.txt", (a.text + "\n").encode())])
    digest, size = layout.put_image([base, own], cmd=["/hello.txt"], label=a.ref)
    layout.tag(a.ref, digest, size)
    layout.save()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("many")
    s.add_argument("layout")
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--prefix", default="img-")
    s.set_defaults(func=cmd_many)
    s = sub.add_parser("big")
    s.add_argument("layout")
    s.add_argument("--ref", default="big")
    s.add_argument("--layers", type=int, default=4)
    s.add_argument("--layer-mib", type=int, default=128)
    s.add_argument("--content", choices=("random", "usr"), default="random")
    s.set_defaults(func=cmd_big)
    s = sub.add_parser("multiarch")
    s.add_argument("layout")
    s.add_argument("--ref", default="multi")
    s.set_defaults(func=cmd_multiarch)
    s = sub.add_parser("single")
    s.add_argument("layout")
    s.add_argument("--ref", required=True)
    s.add_argument("--text", default="hello")
    s.set_defaults(func=cmd_single)
    a = p.parse_args()
    a.func(a)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
