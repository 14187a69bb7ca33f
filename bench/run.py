#!/usr/bin/env python3
"""`make bench`: trailwatch against the Python peer and two Rust baselines, same input, same run.

Prints a table of CPU-time medians (MB/s of uncompressed JSON, events/s, peak RSS, ratios),
the cost of 200 rules against 20 and against none, and the Lambda cold start. Stdlib only.

usage: bench/run.py [--mb 100] [--real-mb 100] [--runs 5]
"""
import argparse, gzip, http.server, json, os, re, resource, shutil, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shared():
    """shared/ beside the repository (or beside the folder of its worktrees)."""
    d = ROOT
    while d != os.path.dirname(d):
        d = os.path.dirname(d)
        if os.path.isdir(os.path.join(d, "shared", "bench")):
            return os.path.join(d, "shared")
    sys.exit("shared/bench not found beside the repository")


SHARED = _shared()
OUT = os.path.join(ROOT, "target", "bench")
TW = os.path.join(ROOT, "target", "release", "trailwatch")
LAMBDA = os.path.join(ROOT, "target", "release", "trailwatch-lambda")


def run_measured(cmd, env=None, capture=True):
    """Runs cmd; returns (user+sys CPU seconds, peak RSS MiB, stdout or b""). Linux counts
    the driver's pages at exec in a child's ru_maxrss, so the driver keeps no large data in
    memory (trailwatch's alerts, 29 MB on the synthetic file, go to /dev/null)."""
    out_to = subprocess.PIPE if capture else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=out_to, stderr=subprocess.DEVNULL, env=env)
    out = p.stdout.read() if capture else b""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd} failed with exit {p.returncode}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out


def uncompressed_size(path):
    with open(path, "rb") as f:
        f.seek(-4, 2)
        return int.from_bytes(f.read(4), "little")


def trailwatch(path):
    """(CPU seconds, peak RSS MiB) of one `trailwatch scan` with the bundled rules."""
    cpu, rss, _ = run_measured([TW, "scan", path], capture=False)
    return cpu, rss


def baseline(mode, path, runs):
    """(CPU seconds, peak RSS MiB, events, predicate hits) of `baseline MODE`: serde_json
    (the release build) or sonic-rs (built for x86-64-v3, which it needs for AVX2)."""
    exe = build_baseline(v3=mode == "sonic")
    cpu, rss, out = run_measured([exe, mode, path, os.path.join(SHARED, "bench", "preds.json"), str(runs)])
    doc = json.loads(out)
    return doc["cpu_median_s"], rss, doc["events"], doc["rule_hits"]


def python_peer(path, runs):
    cpu, rss, out = run_measured([sys.executable, os.path.join(SHARED, "bench", "python_peer.py"), "std", path, str(runs)])
    doc = json.loads(out)
    return doc["cpu_median_s"], rss, doc["rule_hits"]


_baseline_exe = {}


def build_baseline(v3):
    """The baseline's executable. The x86-64-v3 build names its target explicitly, so its
    artifacts sit in target/x86_64-unknown-linux-gnu beside (not over) the ordinary ones."""
    if v3 not in _baseline_exe:
        cmd = ["cargo", "bench", "--bench", "baseline", "--no-run", "--message-format=json"]
        env = dict(os.environ)
        if v3 and os.uname().machine == "x86_64":
            cmd += ["--target", "x86_64-unknown-linux-gnu"]
            env["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"] = "-C target-cpu=x86-64-v3"
        out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            msg = json.loads(line)
            if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "baseline" and msg.get("executable"):
                _baseline_exe[v3] = msg["executable"]
    return _baseline_exe[v3]


def real_trail(mb):
    """A real-shaped trail of about `mb` MB: the invictus S3 delivery files (2,900 records,
    3.7 MB, too small for a stable ratio) repeated, each copy with fresh eventIDs and its
    times shifted past the previous copy's, compact JSON gzipped at level 6 as CloudTrail
    writes. Built in a child process; kept in
    target/bench between runs."""
    src = os.path.join(SHARED, "corpora", "invictus-ir_aws_dataset", "CloudTrail")
    path = os.path.join(OUT, f"invictus-x{mb}mb.json.gz")
    code = (
        "import datetime as dt, gzip, json, os, random, sys, uuid\n"
        "src, path, target = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "recs = [r for n in sorted(os.listdir(src)) for r in json.load(open(os.path.join(src, n)))['Records']]\n"
        "fmt = '%Y-%m-%dT%H:%M:%SZ'\n"
        "times = [dt.datetime.strptime(r['eventTime'], fmt) for r in recs]\n"
        "span = max(times) - min(times) + dt.timedelta(minutes=5)\n"
        "size = len(json.dumps({'Records': recs}, separators=(',', ':')))\n"
        "copies = max(1, round(target / size))\n"
        "rnd = random.Random(14)\n"
        "with gzip.open(path + '.tmp', 'wt', compresslevel=6) as f:\n"
        "    f.write('{\"Records\":[')\n"
        "    for k in range(copies):\n"
        "        for i, (r, t) in enumerate(zip(recs, times)):\n"
        "            r = dict(r, eventID=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), eventTime=(t + k * span).strftime(fmt))\n"
        "            f.write(('' if k == i == 0 else ',') + json.dumps(r, separators=(',', ':')))\n"
        "    f.write(']}')\n"
        "os.replace(path + '.tmp', path)\n"
        "print(copies)\n"
    )
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-c", code, src, path, str(mb * 1_000_000)], check=True, stdout=subprocess.DEVNULL)
    return path


def catalogue_pairs():
    """(eventSource, eventName) pairs in the proportions the Sigma CloudTrail catalogue uses."""
    pairs = []
    d = os.path.join(SHARED, "corpora", "sigmahq-cloudtrail-rules")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".yml"):
            continue
        text = open(os.path.join(d, name)).read()
        sources = re.findall(r"eventSource:\s*'?([\w.-]+\.amazonaws\.com)", text)
        names = re.findall(r"eventName:\s*'?(\w+)'?\s*$", text, re.M)
        names += re.findall(r"^\s+- '?(\w+)'?\s*$", text.split("eventName:")[-1], re.M) if "eventName:\n" in text else []
        for n in names:
            pairs.append((sources[0] if sources else None, n))
    return pairs or [(None, "ConsoleLogin")]


def write_rules(n, pairs):
    d = os.path.join(OUT, f"rules{n}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    extras = ["errorCode: {exists: true}", "userIdentity.type: [IAMUser, AssumedRole, Root]",
              "sourceIPAddress: {not: {cidr: [10.0.0.0/8, 192.168.0.0/16]}}", "userAgent: {not: {prefix: [aws-internal, AWS Internal]}}",
              "userIdentity.arn: {regex: '.*:(user|role)/.*admin.*', ignore_case: true}"]
    for i in range(n):
        source, name = pairs[i % len(pairs)]
        lines = [f"id: gen-{i:03d}", f"title: generated {i} {{eventName}}", "severity: low", "match:", f"  eventName: {name}"]
        if source:
            lines.append(f"  eventSource: {source}")
        lines.append("  " + extras[i % len(extras)])
        with open(os.path.join(d, f"gen-{i:03d}.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return d


class _Runtime(http.server.BaseHTTPRequestHandler):
    polled = None

    def do_GET(self):
        if _Runtime.polled is None:
            _Runtime.polled = time.perf_counter()
        time.sleep(0.5)
        self.send_response(500)
        self.end_headers()

    def do_POST(self):
        self.send_response(202)
        self.end_headers()

    def log_message(self, *a):
        pass


def cold_start(runs):
    """Process start to the first Runtime API poll (rules compiled, clients built)."""
    subprocess.run(["cargo", "build", "--release", "--bin", "trailwatch-lambda"], cwd=ROOT, check=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Runtime)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{srv.server_port}",
           "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_LAMBDA_FUNCTION_VERSION": "1", "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED": "true", "RUST_LOG": "error"}
    times = []
    for _ in range(runs):
        _Runtime.polled = None
        t = time.perf_counter()
        p = subprocess.Popen([LAMBDA], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while _Runtime.polled is None and time.perf_counter() - t < 10:
            time.sleep(0.0005)
        if _Runtime.polled is not None:
            times.append((_Runtime.polled - t) * 1000)
        p.kill()
        p.wait()
    srv.shutdown()
    return statistics.median(times) if times else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--real-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--bin", "trailwatch"], cwd=ROOT, check=True)
    synth = os.path.join(OUT, f"ct{a.mb}")
    if not os.path.exists(synth + ".json.gz"):
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_cloudtrail.py"), "--target-mb", str(a.mb), "--out", synth], check=True, stdout=subprocess.DEVNULL)
    inputs = [("synthetic", synth + ".json.gz"), ("real (invictus)", real_trail(a.real_mb))]
    for _, path in inputs:
        trailwatch(path)  # warm the page cache
    print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; CPU time (user+sys) medians of {a.runs} interleaved rounds;")
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS per child (at least the driver's {driver:.0f} MiB, which a child counts until it execs)\n")
    print(f"{'input':<16} {'tool':<30} {'MB/s':>8} {'events/s':>10} {'peak RSS':>9} {'vs serde':>9} {'vs sonic':>9} {'vs python':>10}")
    for label, path in inputs:
        size = uncompressed_size(path)
        tools = {
            "python peer (std)": lambda: python_peer(path, 1),
            "baseline serde_json": lambda: baseline("serde", path, 1),
            "baseline sonic-rs (x86-64-v3)": lambda: baseline("sonic", path, 1),
            "trailwatch scan": lambda: trailwatch(path),
        }
        # Interleaved rounds (each tool once per round), so drift in a shared machine's
        # speed hits every tool alike; each round's figure is one pass after a warm-up.
        res = {k: [] for k in tools}
        for _ in range(a.runs):
            for k, f in tools.items():
                res[k].append(f())
        events = res["baseline serde_json"][0][2]
        hits = {k: res[k][0][-1] for k in ("python peer (std)", "baseline serde_json", "baseline sonic-rs (x86-64-v3)")}
        if len({json.dumps(h) for h in hits.values()}) != 1:
            sys.exit(f"{label}: the predicate hit counts differ: {hits}")
        cpu = {k: statistics.median(r[0] for r in v) for k, v in res.items()}
        rss = {k: max(r[1] for r in v) for k, v in res.items()}
        shown = label if label == "synthetic" else f"{label} x{round(events / 2900)}"
        for k in tools:
            c = cpu[k]
            print(f"{shown:<16} {k:<30} {size / c / 1e6:>8.1f} {events / c:>10.0f} {rss[k]:>7.1f}Mi "
                  f"{cpu['baseline serde_json'] / c:>8.2f}x {cpu['baseline sonic-rs (x86-64-v3)'] / c:>8.2f}x "
                  f"{cpu['python peer (std)'] / c:>9.2f}x")
    pairs = catalogue_pairs()
    synth_gz = synth + ".json.gz"
    none_dir = os.path.join(OUT, "rules0")
    shutil.rmtree(none_dir, ignore_errors=True)
    os.makedirs(none_dir)
    with open(os.path.join(none_dir, "none.yaml"), "w") as f:
        f.write("id: none\ntitle: none\nseverity: info\nenabled: false\nmatch:\n  eventName: Never\n")
    dirs = {"none": none_dir, "20": write_rules(20, pairs), "200": write_rules(200, pairs)}
    # Interleaved rounds, so drift in a shared machine's speed hits every variant alike.
    cpu = {k: [] for k in dirs}
    for _ in range(a.runs * 2):
        for k, d in dirs.items():
            cpu[k].append(run_measured([TW, "scan", "--rules", d, synth_gz], capture=False)[0])
    floor, c20, c200 = (statistics.median(cpu[k]) for k in ("none", "20", "200"))
    print(f"\nrule count (synthetic, {len(pairs)} catalogue event names): no rules {floor:.3f}s, 20 rules {c20:.3f}s, 200 rules {c200:.3f}s CPU (medians of {a.runs * 2} interleaved runs)")
    print(f"  per event, 200 rules cost {c200 / c20:.2f}x what 20 rules cost and {c200 / floor:.2f}x what no rules cost")
    print(f"\nlambda cold start (process start to first Runtime API poll, full pack): {cold_start(a.runs):.1f} ms median")


if __name__ == "__main__":
    main()
