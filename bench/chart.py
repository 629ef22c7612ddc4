"""Draws report/compare/chart.png from results.json (run by bench/compare in
its chart venv): one group of bars per timed workload, one bar per library,
medians on a log scale; a timed-out run is drawn hatched at its limit."""

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


def main(results_path, png_path):
    results = json.load(open(results_path))["results"]
    keys = [k for k in SHORT if k in results]
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
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
