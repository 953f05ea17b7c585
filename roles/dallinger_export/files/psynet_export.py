"""Ask a PsyNet app's web server for PsyNet's export, from inside its web container.

What `psynet export ssh` asks for over HTTPS: the dashboard's export route runs PsyNet's
own export against the app's database and writes psynet.zip in the experiment's folder
(a 0600 file of the server, mounted there). The dashboard login comes from the
container's environment, so it never appears in a process's arguments. PsyNet also
copies each export into its local artifact store in the container: that copy is
removed, so participants' data is in no file but the one the caller fetches.
"""

import base64
import glob
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

anonymize, assets, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
query = urllib.parse.urlencode({"type": "psynet", "anonymize": anonymize, "assets": assets})
port = os.environ.get("PORT", "5000")
request = urllib.request.Request(f"http://127.0.0.1:{port}/dashboard/export/download?{query}")
# Dallinger's config keys, as the app's .env holds them.
user = os.environ.get("dashboard_user", "")  # noqa: SIM112
password = os.environ.get("dashboard_password", "")  # noqa: SIM112
login = f"{user}:{password}"
request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
try:
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 a fixed http URL
        size = sum(len(chunk) for chunk in iter(lambda: response.read(1 << 20), b""))
except urllib.error.HTTPError as error:
    sys.exit(f"PsyNet's export answered {error.code}: {error.read(2000).decode(errors='replace')}")
except OSError as error:
    sys.exit(f"PsyNet's export did not answer: {error}")
finally:
    home = os.path.expanduser("~/psynet-data/artifacts/deployments")
    for copy in glob.glob(os.path.join(glob.escape(home), "*", "psynet.zip")):
        os.remove(copy)
print(size)
