"""Draws report/compare/chart.png from results.json (run by bench/compare in
its chart venv): one group of bars per timed workload, one bar per library,
medians on a log scale; a timed-out run is drawn hatched at its limit. The
throughput rows (scaling) are not times per call: they get a panel of their
own on the right, the scaling factor per library against the 0.8 target
(MSAL Node has none: one JS thread per process)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LIBS = [("rust", "msal (Rust)", "#d9480f"), ("python", "MSAL Python", "#1971c2"), ("node", "MSAL Node", "#2f9e44")]
SHORT = {
    "cc_hit": "CC cache hit",
    "silent_exact_1k": "silent exact\n1k",
    "silent_exact_10k": "silent exact\n10k",
    "silent_subset_1k": "silent subset\n1k",
    "silent_subset_10k": "silent subset\n10k",
    "obo_hit_10k": "OBO hit 10k\n(Python: a\nrequest)",
    "get_accounts_1k": "get_accounts\n1k",
    "get_accounts_10k": "get_accounts\n10k",
    "get_accounts_first_1k": "get_accounts\nfirst, 1k",
    "get_accounts_first_10k": "get_accounts\nfirst, 10k",
    "serialize_10k": "serialize\n10k",
    "deserialize_10k": "deserialize\n10k",
    "first_token": "first token\n(HTTPS)",
    "file_hit_1k": "file cache\nhit, 1k",
    "file_hit_locked_1k": "file cache\nhit, locked",
    "redis_hit": "Redis hit\n(our L1)",
    "redis_l2_hit": "Redis hit\n(no L1)",
    "process_app_token": "process,\napp token",
    "process_user_token": "process,\nuser token",
}
# The throughput rows, drawn in their own panel.
SCALING = {
    "scaling_cc_hit": "CC hits",
    "scaling_silent_10k": "silent exact\n10k",
}


def main(results_path, png_path):
    results = json.load(open(results_path))["results"]
    keys = [k for k in SHORT if k in results]
    scaling_keys = [k for k in SCALING if k in results]
    if scaling_keys:
        fig, (ax, sx) = plt.subplots(1, 2, figsize=(22, 5.5), gridspec_kw={"width_ratios": [max(len(keys), 3), 3]})
    else:
        fig, ax = plt.subplots(figsize=(19, 5.5))
    width = 0.27
    for i, (lib, label, color) in enumerate(LIBS):
        for j, key in enumerate(keys):
            r = results[key].get(lib) or {}
            x = j + (i - 1) * width
            if "median_us" in r:
                ax.bar(x, r["median_us"], width, color=color, label=label if j == 0 else None)
            elif "timed_out_s" in r:
                ax.bar(x, r["timed_out_s"] * 1e6, width, color="white", edgecolor=color, hatch="//",
                       label=None)
                ax.text(x, r["timed_out_s"] * 1e6 / 3, "timed out", ha="center", fontsize=7, rotation=90,
                        va="top")
    ax.set_yscale("log")
    ax.set_ylabel("median per call (µs, log scale)")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([SHORT[k] for k in keys], fontsize=8)
    ax.set_title("msal (Rust) vs MSAL Python vs MSAL Node: lower is better")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend()
    if scaling_keys:
        for i, (lib, label, color) in enumerate(LIBS):
            for j, key in enumerate(scaling_keys):
                r = results[key].get(lib) or {}
                x = j + (i - 1) * width
                if "scaling" in r:
                    sx.bar(x, r["scaling"], width, color=color)
                    sx.text(x, r["scaling"], f"{r['scaling']:.2f}", ha="center", va="bottom", fontsize=7)
                elif "not_applicable" in r:
                    sx.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        sx.axhline(0.8, color="black", linestyle="--", linewidth=1)
        sx.text(-0.45, 0.81, "target 0.8", ha="left", va="bottom", fontsize=7)
        sx.set_xlim(-0.5, len(scaling_keys) - 0.5)
        sx.set_ylim(0, 1.2)
        sx.set_ylabel("all cores / (cores × one thread)")
        sx.set_xticks(range(len(scaling_keys)))
        sx.set_xticklabels([SCALING[k] for k in scaling_keys], fontsize=8)
        sx.set_title("Scaling with cores: higher is better")
        sx.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
