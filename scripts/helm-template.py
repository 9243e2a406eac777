#!/usr/bin/env python3
"""Renders a Helm chart offline with Helm's own Go SDK (the helm-python-sdk package from PyPI,
which binds libhelm_c), as `helm lint` and then `helm template --include-crds` would: one YAML
stream on stdout, each document headed by the file it came from. Exits 1 with Helm's message
when the chart does not lint or render, and 3 when the package is not installed.

    scripts/helm-template.py CHART [--name NAME] [--namespace NS] [--values-json JSON]
"""

import argparse
import json
import sys

try:
    import helm_python as helm
except ImportError:
    print("helm-template: the helm-python-sdk package is not installed (pip install helm-python-sdk)",
          file=sys.stderr)
    sys.exit(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart")
    parser.add_argument("--name", default="posture")
    parser.add_argument("--namespace", default="posture")
    parser.add_argument("--values-json", default="{}", help="values over the chart's values.yaml")
    args = parser.parse_args()
    values = json.loads(args.values_json)

    lint = helm.lint(args.chart, values, strict=True, namespace=args.namespace)
    # Severity 2 is a warning, 3 an error; strict lint fails on both, as `helm lint --strict`.
    problems = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2]
    if problems or lint.get("errors"):
        print(json.dumps(lint, indent=2), file=sys.stderr)
        return 1

    chart = helm.Chart.load(args.chart)
    out = []
    for crd in chart.crds:
        out.append(f"---\n# Source: {crd['name']}\n{crd['data'].strip()}\n")
    rendered = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
    for path in sorted(rendered):
        text = rendered[path].strip()
        if path.endswith("NOTES.txt") or not text:
            continue
        out.append(f"---\n# Source: {path}\n{text}\n")
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
