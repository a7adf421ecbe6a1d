"""Train the reference circuits' teachers and write them where the demo reads them (bit for bit the shipped files).

    python scripts/regenerate_teachers.py              # every circuit: about 3 minutes each on one core, 10 for
                                                       # each paper-size one
    python scripts/regenerate_teachers.py refcirc2 --out /tmp/teachers

See :mod:`nwb_biornn.synthetic.teachers` for how a teacher is made and docs/demo.md for why.
"""
from __future__ import annotations

import argparse

from nwb_biornn.synthetic import circuits, demo
from nwb_biornn.synthetic.teachers import teacher_steps, train_teacher


def main(argv=None) -> None:
    """Train the named teachers (default: all) and write them as ``OUT/<name>.npz``."""
    parser = argparse.ArgumentParser(description="Train the reference circuits' teachers.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"circuits to train, of {', '.join(demo.CIRCUITS)} (default: all)")
    parser.add_argument("--steps", type=int, help="training steps (default: each circuit's teacher_steps)")
    parser.add_argument("--out", default=str(circuits.CIRCUIT_FILES))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(demo.CIRCUITS))
    if unknown:
        parser.error(f"no circuit named {unknown[0]!r}; choose from {', '.join(demo.CIRCUITS)}")
    for name in args.names or demo.CIRCUITS:
        steps = args.steps or teacher_steps(name)

        def report(step, metrics, name=name, steps=steps):
            if step % 100 == 0:
                print(f"{name}: step {step}/{steps}, training loss {metrics['total']:.3f}", flush=True)
        teacher = train_teacher(name, steps=steps, progress=report)
        circuits.save_circuit(teacher, f"{args.out}/{name}.npz")
        print(f"wrote {args.out}/{name}.npz", flush=True)


if __name__ == "__main__":
    main()
