#!/usr/bin/env python3
"""A decision log of benchmark size (issue 12), in imagegate's own line format.

    generate_decision_log.py [--lines N] [--rotated N] [--days D] [--seed S] -o FILE

Writes N lines (default 1,000,000, about 300 MB) spread over the last D days (default 7),
oldest first, into FILE and N rotated files the way spdlog names them (FILE's stem.1.ext
newest ... stem.R.ext oldest), as a fleet of CI runners would leave it under an audit-mode
rollout: 2,000 users and 50 CI service IDs, each pulling and running a working set of about
30 of some 20,000 references (the namespaces of bench/generate_policy.py: acme-team-NNNNN
organization, publisher-NNNNN verified, oss-project-NNNNN sponsored, plus Docker Official,
community and other registries), inspects, pushes, tags, and 1 % denials that name no
image. Decisions follow the generated 10k policy's categories; 70 % of the lines are in
audit mode. Deterministic for a given seed.
"""
import argparse
import datetime
import json
import os
import random


def references(rng):
    official = ["alpine", "busybox", "ubuntu", "debian", "python", "node", "golang", "nginx", "redis", "postgres"]
    refs = []  # (reference, category, registry, allowed, reason)
    iam = "acme's Image Access Management"
    for i in range(8000):
        refs.append((f"docker.io/acme-team-{i % 4998:05d}/app:{i // 4998 + 1}.0", "organization", "docker.io",
                     True, "an organization namespace of acme"))
    for name in official:
        for tag in ("latest", "3", "3.19", "stable", "slim", "22.04", "bookworm", "1"):
            refs.append((f"docker.io/library/{name}:{tag}", "docker-official", "docker.io", True,
                         f"Docker Official images are allowed by {iam}"))
    for i in range(6000):
        refs.append((f"docker.io/publisher-{i % 3998:05d}/server:latest", "verified-publisher", "docker.io", True,
                     f"Verified Publisher images are allowed by {iam}"))
    for i in range(2000):
        refs.append((f"docker.io/oss-project-{i % 999:05d}/tool:v{i // 999}", "sponsored-open-source", "docker.io",
                     False, f"Sponsored Open Source images are restricted by {iam} (policy 42)"))
    for i in range(3000):
        refs.append((f"docker.io/someone-{i:04d}/tool:latest", "community", "docker.io", False,
                     f"Community images are restricted by {iam} (policy 42)"))
    for i in range(800):
        refs.append((f"registry.acme.example:5000/acme-team-{i:05d}/app:latest", "other-registry",
                     "registry.acme.example:5000", True, "Image Access Management applies to Docker Hub only"))
    for i in range(200):
        refs.append((f"quay.io/vendor-{i:03d}/agent:latest", "other-registry", "quay.io", False,
                     "registry quay.io is not allowed by acme's Registry Access Management (policy 42)"))
    return refs


def templates(rng):
    refs = references(rng)
    users = [f"user-{i:05d}" for i in range(2000)] + [f"ci-runner-{i:02d}" for i in range(50)] + [""]
    # Popular references are popular with everyone: a skewed pick of each working set.
    weights = [1.0 / (1 + i) ** 0.8 for i in range(len(refs))]
    order = list(range(len(refs)))
    rng.shuffle(order)
    out = []  # (json tail after the time, weight)
    common = '"organization":"acme","policySerial":42'
    for user in users:
        for r in set(rng.choices(order, weights=weights, k=30)):
            ref, category, registry, allowed, reason = refs[r]
            for action, endpoint, share in (("image.pull", "POST /images/create", 0.45),
                                            ("image.run", "POST /containers/create", 0.35),
                                            ("image.inspect", "GET /images/json", 0.12)):
                out.append((action, ref, category, registry, allowed, reason, endpoint, False, user, share))
            if category == "organization" and rng.random() < 0.3:
                out.append(("image.push", ref, category, registry, True, "granted by acme's access policies",
                            "POST /images/push", False, user, 0.05))
                out.append(("image.tag", ref, category, registry, True, "granted by acme's access policies",
                            "POST /images/tag", True, user, 0.03))
    lines = []
    for action, ref, category, registry, allowed, reason, endpoint, target, user, share in out:
        if not allowed and action == "image.inspect":
            allowed, reason = True, "granted by acme's access policies"
        tail = {
            "user": user, "action": action, "reference": ref, "category": category, "registry": registry,
            "decision": "allow" if allowed else "deny", "reason": "" if allowed and not reason else reason,
        }
        text = json.dumps(tail, separators=(",", ":"))[1:-1]
        lines.append((text + "," + common, endpoint, target, share))
    hardening = [
        "imagegate: POST /containers/create denied: a privileged container is restricted by acme's hardening policy (policy 42)",
        "imagegate: POST /containers/create denied: the bind mount /var/run/docker.sock exposes the Docker socket (policy 42)",
        "imagegate: POST /containers/create denied: adding capability SYS_ADMIN is restricted by acme's hardening policy (policy 42)",
    ]
    for i, message in enumerate(hardening):
        for user in users[:: 7 + i]:
            text = json.dumps({"user": user, "action": "other", "reference": "", "category": "none", "registry": "",
                               "decision": "deny", "reason": message}, separators=(",", ":"))[1:-1]
            lines.append((text + "," + common, "POST /containers/create", False, 0.02))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rotated", type=int, default=4)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kinds = templates(rng)
    picks = rng.choices(range(len(kinds)), weights=[k[3] for k in kinds], k=args.lines)
    modes = [',"mode":"audit","source":"dockerd","endpoint":"', ',"mode":"enforce","source":"dockerd","endpoint":"']
    end = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    start = end - datetime.timedelta(days=args.days)
    step = (end - start).total_seconds() * 1000 / max(args.lines, 1)
    start_ms = int((start - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)

    stem, ext = os.path.splitext(args.output)
    names = [f"{stem}.{i}{ext}" for i in range(args.rotated, 0, -1)] + [args.output]
    per_file = (args.lines + len(names) - 1) // len(names)
    tag = {True: ',"tagTarget":true', False: ""}
    stamp_cache = {}
    n = 0
    for name in names:
        chunk = []
        for _ in range(min(per_file, args.lines - n)):
            ms = start_ms + int(n * step)
            seconds, millis = divmod(ms, 1000)
            stamp = stamp_cache.get(seconds)
            if stamp is None:
                stamp_cache.clear()
                stamp = (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
                stamp_cache[seconds] = stamp
            tail, endpoint, target, _ = kinds[picks[n]]
            mode = modes[0] if (picks[n] * 7 + n) % 10 < 7 else modes[1]
            chunk.append(f'{{"time":"{stamp}.{millis:03d}Z",{tail}{mode}{endpoint}"{tag[target]}}}\n')
            n += 1
        with open(name, "w") as out:
            out.write("".join(chunk))
    print(f"{n} lines, {sum(os.path.getsize(f) for f in names)} bytes in {len(names)} files, "
          f"{len(kinds)} distinct requests")


if __name__ == "__main__":
    main()
