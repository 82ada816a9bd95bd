"""Constant load for the rehearsal: `threads` workers, each on its own keep-alive connection to
the front, each sending `rate` predictions a second (paced, not as fast as possible) with tokens
of many subjects (the gateway's A/B split is sticky by subject) until the stop file appears.
Every answer is recorded: time, status, latency, arm, version; a request that raised (refused,
reset, timed out) is recorded with status 0. Writes the records as JSON lines to `out`.

  python load.py HOST PORT TOKENS_FILE OUT STOP_FILE THREADS RATE"""

import http.client
import json
import os
import sys
import threading
import time

host, port, tokens_file, out, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
threads, rate = int(sys.argv[6]), float(sys.argv[7])
tokens = json.load(open(tokens_file))
BODY = json.dumps({"timestamp": "2012-10-01T08:00:00", "weather": 1, "temperature_c": 18, "feels_like_c": 18,
                   "humidity_pct": 60, "wind_speed_kmh": 10, "holiday": False}).encode()
records, lock = [], threading.Lock()


def worker(index):
    connection = None
    interval, sent = 1.0 / rate, 0
    start = time.monotonic()
    mine = []
    while not os.path.exists(stop_file):
        token = tokens[(index + sent * threads) % len(tokens)]
        sent += 1
        began = time.time()
        try:
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("POST", "/v1/predict", BODY, {"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            record = {"t": began, "status": response.status, "ms": (time.time() - began) * 1000}
            if response.status == 200:
                answer = json.loads(payload)
                record.update(arm=answer.get("arm"), version=answer.get("version"))
            else:
                record["body"] = payload[:300].decode(errors="replace")
        except Exception as error:  # every failure counts: refused, reset, timeout, bad JSON
            record = {"t": began, "status": 0, "ms": (time.time() - began) * 1000, "error": repr(error)}
            connection = None
        mine.append(record)
        pause = start + sent * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    with lock:
        records.extend(mine)


workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
with open(out, "w") as f:
    for record in sorted(records, key=lambda r: r["t"]):
        f.write(json.dumps(record) + "\n")
