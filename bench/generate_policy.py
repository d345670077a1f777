#!/usr/bin/env python3
"""The example policy (acme, serial 42) grown to benchmark size (issue 7).

    generate_policy.py [--namespaces N] [--access-policies N] [--resource-groups N]
                       [--serial N] [-o FILE]

Defaults: 10,000 organization / publisher namespaces (half organization, 40 % verified
publishers, 10 % sponsored open source), 1,000 access policies, 100 resource groups; use
--namespaces 100000 for the memory target. The output is deterministic. Names the benchmarks
rely on (bench/samples.hpp, bench/micro_bench.cpp):
  acme-team-NNNNN    organization namespaces (acme-team-04321 holds the bench image)
  publisher-NNNNN    verified publishers; oss-project-NNNNN sponsored open source
  user-NNNNN         users, ten per team team-NNN; team-000 has Reader on "*"
"""
import argparse
import json
import random
import sys


def generate(namespaces, access_policies, resource_groups, serial):
    rng = random.Random(7)
    n_org = namespaces // 2
    n_verified = namespaces * 4 // 10
    n_sponsored = namespaces - n_org - n_verified
    # The example's own namespaces count towards the totals.
    org = ["acme", "acme-ci"] + [f"acme-team-{i:05d}" for i in range(n_org - 2)]
    verified = ["bitnami", "grafana"] + [f"publisher-{i:05d}" for i in range(n_verified - 2)]
    sponsored = ["curlimages"] + [f"oss-project-{i:05d}" for i in range(n_sponsored - 1)]

    n_teams = 200
    users = [f"user-{i:05d}" for i in range(n_teams * 10)]
    teams = {"owners": ["alice"], "developers": ["bob", "carol"]}
    for t in range(n_teams):
        teams[f"team-{t:03d}"] = users[t * 10:(t + 1) * 10]
    service_ids = ["ci-runner"] + [f"ci-runner-{i:02d}" for i in range(49)]

    groups = {"internal": ["registry.acme.example:5000/acme/*"]}
    for g in range(resource_groups - 1):
        members = []
        for _ in range(10):
            ns = rng.choice(org)
            members.append(f"registry.acme.example:5000/{ns}/*")
            members.append(f"docker.io/{ns}/*")
        groups[f"group-{g:03d}"] = members

    policies = [
        {"subjects": ["team:developers"], "roles": ["Reader"], "resources": ["*"]},
        {"subjects": ["serviceId:ci-runner"], "roles": ["Writer"], "resources": ["group:internal"]},
        {"subjects": ["team:owners"], "roles": ["Manager"], "resources": ["*"]},
    ]
    role_sets = [["Reader"], ["Writer"], ["Reader", "Writer"], ["Manager"]]
    for i in range(access_policies - len(policies)):
        subjects = [f"team:team-{i % n_teams:03d}", f"user:{users[(i * 7) % len(users)]}"]
        if i % 10 == 5:
            subjects.append(f"serviceId:{service_ids[1 + i % (len(service_ids) - 1)]}")
        resources = [
            f"group:group-{i % (resource_groups - 1):03d}",
            f"docker.io/{rng.choice(org)}/*",
            f"docker.io/{rng.choice(verified)}/server",
            f"registry.acme.example:5000/{rng.choice(org)}/app",
        ]
        if i == 0:
            resources = ["*"]  # team-000 (user-00000 ... user-00009) may pull anything
        policies.append({"subjects": subjects, "roles": role_sets[i % len(role_sets)], "resources": resources})

    allowlist = ["docker.io/someone/approved-tool"] + [f"docker.io/someone-{i:03d}/approved-tool" for i in range(99)]
    registries = ["docker.io", "ghcr.io", "registry.acme.example:5000"] + [
        f"registry-{i:02d}.acme.example:5000" for i in range(20)
    ]

    return {
        "organization": "acme",
        "serial": serial,
        "mode": "enforce",
        "imageAccess": {
            "enabled": True,
            "organizationNamespaces": org,
            "dockerOfficial": "allowed",
            "verifiedPublisher": "allowed",
            "sponsoredOpenSource": "restricted",
            "verifiedPublisherNamespaces": verified,
            "sponsoredOpenSourceNamespaces": sponsored,
            "repositoryAllowlist": allowlist,
        },
        "namespaceAccess": {"enabled": True},
        "registryAccess": {"enabled": True, "allowedRegistries": registries},
        "teams": teams,
        "serviceIds": service_ids,
        "resourceGroups": groups,
        "accessPolicies": policies,
        "defaultRoles": ["Manager"],
        "requireSignIn": False,
        "hardening": {
            "protectedPaths": ["/etc/imagegate", "/var/lib/imagegate"],
            "privileged": "restricted",
            "hostNamespaces": "restricted",
            "capAdd": "restricted",
            "imageImport": "restricted",
            "imageBuild": "allowed",
            "userNamespaces": "optional",
            "rootInContainer": "allowed",
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=10000)
    parser.add_argument("--access-policies", type=int, default=1000)
    parser.add_argument("--resource-groups", type=int, default=100)
    parser.add_argument("--serial", type=int, default=42)
    parser.add_argument("-o", "--output", default="-")
    args = parser.parse_args()
    if args.namespaces < 10 or args.access_policies < 4 or args.resource_groups < 2:
        parser.error("at least 10 namespaces, 4 access policies and 2 resource groups")
    policy = generate(args.namespaces, args.access_policies, args.resource_groups, args.serial)
    text = json.dumps(policy, indent=1) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w") as out:
            out.write(text)


if __name__ == "__main__":
    main()
