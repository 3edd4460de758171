"""Screen pops reach a browser served by any of several gunicorn workers, through Redis."""
from __future__ import annotations

import http.cookiejar
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest

from telephony.pop_bus import RedisBus
from tests.conftest import free_port, wait_until

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_bus():
    bus = RedisBus(REDIS_URL)
    if not bus.ping():
        pytest.skip("Redis at 127.0.0.1:6379 is unreachable")
    return bus


@pytest.mark.slow
def test_a_pop_published_elsewhere_reaches_the_operator_on_any_worker(tmp_path, demo_database_template, redis_bus):
    database = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, database)
    port = free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{database}", "HOTLINE_APP_DATA_DIR": str(tmp_path),
           "HOTLINE_CONSOLE_WORKERS": "2", "HOTLINE_CONSOLE_REDIS_URL": REDIS_URL}
    env.pop("HOTLINE_CONFIG", None)
    log = (tmp_path / "console.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "hotline", "console", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return urllib.request.urlopen(base + "/health", timeout=1).status == 200
            except OSError:
                return False
        assert wait_until(up, timeout=30)
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = browser.open(base + "/login", timeout=5).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "operator", "password": "operator-demo-2026", "csrf_token": token})
        assert "工作台" in browser.open(base + "/login", data=form.encode(), timeout=5).read().decode()
        pops: queue.Queue = queue.Queue()

        def listen():
            with browser.open(base + "/pop/stream", timeout=20) as stream:
                for line in stream:
                    if line.startswith(b"data:"):
                        pops.put(line.decode())
                        return
        threading.Thread(target=listen, daemon=True).start()
        # The AMI link runs in its own process; here the test publishes as it would.
        delivered = None
        for _ in range(40):  # until the worker's subscription is in place
            redis_bus.publish("1001", {"uniqueid": "77.1", "caller": "13912345678", "language": "hak"})
            try:
                delivered = pops.get(timeout=0.25)
                break
            except queue.Empty:
                continue
        assert delivered is not None and '"uniqueid": "77.1"' in delivered and '"language": "hak"' in delivered
    finally:
        server.terminate()
        server.wait(20)
        log.close()
        print((tmp_path / "console.log").read_text()[-3000:])
