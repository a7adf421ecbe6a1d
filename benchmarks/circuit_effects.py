"""The effect of every demo light condition on a ground-truth circuit: the tables of docs/demo.md.

Rates are the mean rate of an area's E neurons inside the light window (0 ... 0.1 s after the stimulus, or the
delay before the go cue for ``2afc``, for "no light"); P(lick) is the expected probability of at least one lick in
the response window, P(correct) that the first lick there is at the instructed port, both from the readout rates.
Light-on and light-off trials share their random numbers.

    python benchmarks/circuit_effects.py                 # the shipped teachers (what demo records)
    python benchmarks/circuit_effects.py --hand-built    # the hand-built circuits they were fitted to
    python benchmarks/circuit_effects.py --circuits paper-refcirc1 paper-refcirc2   # the paper-size ones only
"""
from __future__ import annotations

import argparse

from nwb_biornn.synthetic import circuits, demo, hemispheres, teachers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hand-built", action="store_true")
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--circuits", nargs="+", choices=demo.CIRCUITS, default=list(demo.CIRCUITS))
    args = parser.parse_args()
    print("| circuit | condition | window (s) | A E rate: off → on (Hz) | B E rate: off → on (Hz) | "
          "P(lick) go: off → on (Δ) | P(lick) no-go: off → on (Δ) |")
    print("|---|---|---|---|---|---|---|")
    for name in [name for name in args.circuits if name in circuits.CIRCUITS]:
        model, layout = teachers.hand_built(name) if args.hand_built else demo.reference_network(name)

        def simulate(instruction, light):
            return circuits.simulate_trials(model, layout, [instruction] * args.trials, [light] * args.trials, seed=11)

        off = {instruction: simulate(instruction, None) for instruction in circuits.INPUT_NAMES}
        for condition in (None, *demo.demo_conditions()):
            on = off if condition is None else {i: simulate(i, condition) for i in circuits.INPUT_NAMES}
            window = (0.0, 0.1) if condition is None else (condition.onset, condition.offset)
            label = ("no light" if condition is None
                     else f"{condition.area}-{condition.cell_type} {condition.power:g} mW")
            rates = [f"{circuits.population_rate(off['go'], layout, a, window=window):.1f} → "
                     f"{circuits.population_rate(on['go'], layout, a, window=window):.1f}" for a in circuits.AREAS]
            licks = []
            for instruction in circuits.INPUT_NAMES:
                before, after = circuits.lick_probability(off[instruction]), circuits.lick_probability(on[instruction])
                licks.append(f"{before:.2f} → {after:.2f} ({after - before:+.2f})")
            cells = [name, label, f"{window[0]:+.2f}…{window[1]:.2f}", *rates, *licks]
            print("| " + " | ".join(cells) + " |", flush=True)
    if demo.TWO_CHOICE in args.circuits:
        print_choice_effects(args)


def print_choice_effects(args):
    """The table of the two-hemisphere circuit: rates in the light window (times from the go cue), P(correct)."""
    name = demo.TWO_CHOICE
    model, layout = teachers.hand_built(name) if args.hand_built else demo.reference_network(name)
    print("\n| condition | window from go cue (s) | ALM_L E rate: off → on (Hz) | ALM_R E rate: off → on (Hz) | "
          "P(correct) lick-left: off → on (Δ) | P(correct) lick-right: off → on (Δ) |")
    print("|---|---|---|---|---|---|")

    def simulate(instruction, light):
        return circuits.simulate(model, layout, hemispheres.task_inputs([instruction] * args.trials),
                                 [light] * args.trials, 11, hemispheres.GO_ONSET)

    off = {instruction: simulate(instruction, None) for instruction in hemispheres.INSTRUCTIONS}
    origin = hemispheres.GO_ONSET - circuits.STIMULUS_ONSET   # population_rate counts from STIMULUS_ONSET
    for condition in (None, *demo.demo_conditions(name)):
        on = off if condition is None else {i: simulate(i, condition) for i in hemispheres.INSTRUCTIONS}
        window = (-0.18, 0.0) if condition is None else (condition.onset, condition.offset)
        shifted = (window[0] + origin, window[1] + origin)
        label = "no light" if condition is None else f"{condition.area}-{condition.cell_type} {condition.power:g} mW"
        instructed = {"ALM_L": "right", "ALM_R": "left"}
        rates = [f"{circuits.population_rate(off[instructed[a]], layout, a, window=shifted):.1f} → "
                 f"{circuits.population_rate(on[instructed[a]], layout, a, window=shifted):.1f}"
                 for a in hemispheres.AREAS]
        correct = []
        for instruction in hemispheres.INSTRUCTIONS:
            before = hemispheres.correct_probability(off[instruction], [instruction] * args.trials)
            after = hemispheres.correct_probability(on[instruction], [instruction] * args.trials)
            correct.append(f"{before:.2f} → {after:.2f} ({after - before:+.2f})")
        print("| " + " | ".join([label, f"{window[0]:+.2f}…{window[1]:.2f}", *rates, *correct]) + " |", flush=True)


if __name__ == "__main__":
    main()
