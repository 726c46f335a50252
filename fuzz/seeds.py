#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/seeds/<target>/, from the repository's fixtures
and test data (fixtures/**/*.json, tests/data/, checks/, packaging/) plus a few hand-written and
synthesised inputs. Run from anywhere: `python3 fuzz/seeds.py`. It replaces fuzz/seeds/ whole;
the files are named by their content's hash, so a rerun changes nothing unless the sources did.
Parts of an input that a target reads as several texts are separated by 0xFF (see
fuzz/src/lib.rs). Keep the whole below a few hundred KB: big inputs only slow libFuzzer down.
"""

import glob
import hashlib
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
SEP = b"\xff"
MAX_SEED = 8192

seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        data = data[:MAX_SEED]
    seeds.setdefault(target, set()).add(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def walk(o, visit):
    visit(o)
    if isinstance(o, dict):
        for v in o.values():
            walk(v, visit)
    elif isinstance(o, list):
        for v in o:
            walk(v, visit)


# --- fixtures: SMTP replies, files' texts, mynetworks, queries --------------------------------
fixture_files = sorted(glob.glob(os.path.join(ROOT, "fixtures", "**", "*.json"), recursive=True))
replies = set()
for f in fixture_files:
    with open(f) as fh:
        doc = json.load(fh)

    def visit(o):
        if not isinstance(o, dict):
            return
        if isinstance(o.get("code"), int) and isinstance(o.get("lines"), list):
            code, lines = o["code"], [str(x) for x in o["lines"]] or [""]
            text = "".join(
                f"{code}{'-' if i + 1 < len(lines) else ' '}{line}\r\n"
                for i, line in enumerate(lines)
            )
            replies.add(text)
        path, text = o.get("path"), o.get("text")
        if isinstance(path, str) and isinstance(text, str):
            if "/pam.d/" in path:
                add("pam", text)
            elif "/default/" in path:
                add("shell_vars", text)
            elif path.endswith(".conf") and "sasl" in path:
                add("sasl_conf", text)
        if o.get("tool") in ("nft", "iptables") and isinstance(o.get("text"), str):
            add("firewall", b"\x19" + o["text"].encode())
        if isinstance(o.get("query"), str):
            add("mysql_map", "user = mailadmin\npassword = x\nhosts = 127.0.0.1\ndbname = mail\n"
                f"query = {o['query']}\n")
        mn = o.get("mynetworks")
        if isinstance(mn, str):
            add("mynetworks", mn)

    walk(doc, visit)
for r in sorted(replies)[:120]:
    add("smtp_reply", r)
add("smtp_reply", "250-mx.example.com\r\n250-SIZE\r\n250-AUTH=LOGIN\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")
add("smtp_reply", "421 4.3.2 Service shutting down\n")
add("smtp_reply", "220 " + "x" * 2000 + "\r\n")
add("smtp_reply", "334 VXNlcm5hbWU6\r\n")

# --- Postfix: main.cf, master.cf, hostnames ----------------------------------------------------
pf_dirs = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "postfix-config", "*")))
for d in pf_dirs:
    main = read(os.path.join(d, "main.cf"))
    master = read(os.path.join(d, "master.cf"))
    add("postfix_config", main + SEP + master + SEP + b"atlantis.example.com")
    add("postfix_config", main + SEP + master + SEP + b"atlantis")
for text in [
    "a = $a $a\n",
    "mydomain = $myhostname\n",  # a self-referencing default, host without a dot
    "myhostname = $mydomain\nmydomain = $myhostname\n",
    "x = ${y?{$x}:{$z}}\ny = 1\nz = ${x}\n",
    "compatibility_level = ${{$compatibility_level} <level {3.6} ? {3.6} : {2}}\n",
    "relay_domains = ${{$a} == {1} ? {$relay_domains} : {}}\na = 1\n",
    "virtual_mailbox_maps = proxy:mysql:/etc/postfix/mysql_virtual_mailbox_maps.cf,"
    " unionmap:{hash:/etc/aliases, pipemap:{inline:{a=b}, regexp:/x}}\n",
]:
    add("postfix_config", text.encode() + SEP + SEP + b"atlantis")
add("postfix_config", SEP + b"submission inet n - y - - smtpd\n  -o smtpd_tls_security_level=$x\n"
    b"  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
    b"#smtps     inet  n       -       y       -       -       smtpd\n")

# --- maps and tables ---------------------------------------------------------------------------
add("mysql_map", "user = mailadmin\npassword = newpassword\nhosts = 127.0.0.1\ndbname = mail\n"
    "table = mailbox\nselect_field = maildir\nwhere_field = username\n"
    "additional_conditions = and active = '1'\n")
add("mysql_map", "user = mailadmin\npassword = x\nhosts = unix:/run/mysqld/mysqld.sock inet:db:3306\n"
    "dbname = mail\nquery = SELECT CONCAT(domain,'/',SUBSTRING_INDEX(maildir,'@',1),'/') FROM mailbox\n"
    "  WHERE username='%s' AND active = 1 AND '%d' = '%u' %% '%[SUDL1-9]'\n"
    "domain = mail.example.com, hash:/etc/postfix/domains\nresult_format = %s@%d\n")
add("regexp_table", "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.*(\\.|=2E)(\n"
    "  ade|adp|app|bas|bat|chm|cmd|com|cpl|crt|exe|hlp|hta|inf|ins|isp|js|jse|lnk|mdb|mde|msc|msi|"
    "msp|mst|pcd|pif|reg|scr|sct|shs|shb|vb|vbe|vbs|wsc|wsf|wsh))(\\?=)?\"?\\s*(;|$)/x\n"
    "  REJECT Attachment name \"$2\" may not end with \".$4\"\n"
    + "\xff" + "Content-Type: application/octet-stream; name=\"a.exe\"")
add("regexp_table", "if /^Subject:/\n!/spam/i OK\n/^(.)(.)\\2\\1/ REJECT palindrome\nendif\n"
    "/x/im DISCARD\nif !/a/\nendif\nendif\n/[/ bad\n" + "\xff" + "Subject: hello")
add("regexp_table", "/(?P<n>a)\\k<n>/ REJECT back-reference\n/a{1000}{1000}/ big\n" + "\xff" + "aaaa")

# --- PAM, SASL, shell variables, saslauthd -----------------------------------------------------
add("pam", "auth required pam_mysql.so user=mailadmin passwd=x host=127.0.0.1 db=mail "
    "table=mailbox usercolumn=username passwdcolumn=password crypt=1\n"
    "-account [success=1 default=ignore] /lib/x86_64-linux-gnu/security/pam_mysql.so "
    "[where=a b] sqllog=0 \\\n  crypt=0\n@include common-auth\n# comment\n")
add("sasl_conf", "pwcheck_method: saslauthd\nmech_list: plain login\nsql_passwd: x\n"
    "auxprop_plugin mysql\n: empty\n")
# dpkg's status file and a journal record (status, 0xFF, updates/NNNN).
for name in ("postfix", "libssl3", "mariadb-server-core", "sasl2-bin"):
    add("dpkg_status", f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Version: 1:2.3-4~deb12u1\nDescription: x\n more\n .\n\nPackage: {name}\n"
        "Status: deinstall ok config-files\nArchitecture: i386\nVersion: 1.0\n")
add("dpkg_status", b"Package: libssl3\nStatus: hold ok installed\nVersion: 3.0.17-1\n\n" + SEP
    + b"Package: libssl3\nStatus: install ok half-configured\nVersion: 3.0.20-1\n")
add("shell_vars", "START=yes\nDESC=\"SASL Authentication Daemon\"\nNAME=\"saslauthd\"\n"
    "MECHANISMS=\"pam\"\nMECH_OPTIONS=\"\"\nTHREADS=5\n"
    "OPTIONS=\"-c -m /var/spool/postfix/var/run/saslauthd -r\"\n"
    "X='a'\"b\"$NAME${THREADS}\\\n  c\nexport Y=$(date) Z=`id`\nif [ x ]; then A=1; fi\n")
for a in [b"OK", b"OK\0", b"NO authentication failed\0", b"NO \"PAM auth error\"", b"",
          b"-c -m /var/run/saslauthd -n 5 -a pam -O x -r"]:
    add("saslauthd_answer", a)

# --- mynetworks ------------------------------------------------------------------------------
for m in ["127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", "0.0.0.0/0", "[::]/0, 10.0.0.0/33",
          "192.168.1.1/24 !10.0.0.1 /etc/postfix/network_table hash:/x host.example.com",
          "[2001:db8::]/32\t1.2.3.4/-1 [fe80::1%eth0]/64 300.1.1.1/8 1.2.3.4/255"]:
    add("mynetworks", m)

# --- certificates and key files (throwaway test keys, made for these seeds) --------------------
for pem in sorted(glob.glob(os.path.join(ROOT, "fuzz", "pem", "*.pem"))):
    data = read(pem)
    name = os.path.basename(pem)
    if name.startswith("cert-"):
        add("certificates", data)
        body = b"".join(l for l in data.splitlines() if l and not l.startswith(b"-----"))
        import base64
        add("certificates", base64.b64decode(body))
for pair in ["rsa", "ec", "ed25519"]:
    c = os.path.join(ROOT, "fuzz", "pem", f"cert-{pair}.pem")
    k = os.path.join(ROOT, "fuzz", "pem", f"key-{pair}.pem")
    if os.path.exists(c) and os.path.exists(k):
        add("tls_material", read(c) + SEP + read(k))
        add("tls_material", read(c) + read(k))
if os.path.exists(os.path.join(ROOT, "fuzz", "pem", "cert-ec.pem")):
    add("tls_material", read("fuzz/pem/cert-ec.pem") + SEP + read("fuzz/pem/key-rsa.pem"))
    add("tls_material", read("fuzz/pem/cert-ec.pem") + read("fuzz/pem/cert-rsa.pem") + SEP
        + b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")

# --- TLS answers to the ClientHello ------------------------------------------------------------
def record(kind, version, body):
    return struct.pack(">BHH", kind, version, len(body)) + body


def server_hello(version, suite, exts=b"", legacy=None):
    body = struct.pack(">H", legacy or version) + bytes(range(32)) + b"\x00" + struct.pack(">HB", suite, 0)
    if exts:
        body += struct.pack(">H", len(exts)) + exts
    return b"\x02" + struct.pack(">I", len(body))[1:] + body


def ext(t, data):
    return struct.pack(">HH", t, len(data)) + data


for v, s in [(0x0301, 0x002F), (0x0302, 0xC013), (0x0303, 0x009C), (0x0300, 0x000A)]:
    sh = server_hello(v, s, ext(0xFF01, b"\x00") + ext(0x000B, b"\x01\x00"))
    add("tls_server_hello", record(22, v, sh))
    add("tls_server_hello", record(22, v, sh[:20]) + record(22, v, sh[20:]))
    done = b"\x0e\x00\x00\x00"
    add("tls_server_hello", record(22, v, sh + b"\x0b\x00\x00\x03\x00\x00\x00" + done))
add("tls_server_hello", record(22, 0x0303, server_hello(0x0303, 0x1301, ext(0x002B, b"\x03\x04"))))
add("tls_server_hello", record(21, 0x0301, b"\x02\x46"))  # protocol_version
add("tls_server_hello", record(21, 0x0303, b"\x02\x28"))  # handshake_failure
add("tls_server_hello", record(21, 0x0303, b"\x01\x00") + record(22, 0x0303, b"\x02"))
add("tls_server_hello", record(20, 0x0303, b"\x01") + record(22, 0x0303, b"\x02\x00\x00"))
add("tls_server_hello", record(23, 0x0303, b"\x00" * 8))
add("tls_server_hello", b"454 4.7.0 TLS not available due to local problem\r\n")
add("tls_server_hello", b"\x16\x03\x01\xff\xff" + b"\x02\x00\xff\xff")
# Postfix 3.7 on the lab (Debian 12), answering after STARTTLS (fuzz/captured/).
for f in sorted(glob.glob(os.path.join(ROOT, "fuzz", "captured", "*.bin"))):
    add("tls_server_hello", read(f))

# --- the config file and check TOML -------------------------------------------------------------
add("config_file", read("packaging/config.toml.example"))
add("config_file", 'host = "mx.example.com"\naccount = "a@example.com"\ntimeout = "60s"\n'
    'skip = ["tls.*"]\n[tutorial]\nvmail_uid = 5000\nmessage_size_limit = 20480000\n'
    'postfix_config_dir = "/etc/postfix-2"\n[timeouts]\nconnect = "5s"\ndelivery = "1m 30s"\n'
    'banner = "1y"\ndata = "18446744073709551615s"\n')
checks = sorted(glob.glob(os.path.join(ROOT, "checks", "*", "*.toml")))
for c in checks:
    rel = os.path.relpath(c, os.path.join(ROOT, "checks"))
    add("check_toml", rel.encode() + b"\n" + read(c))
# A few files at once, so that `needs` and `explains` resolve.
by_family = {}
for c in checks:
    by_family.setdefault(os.path.basename(os.path.dirname(c)), []).append(c)
for fam, files in sorted(by_family.items()):
    parts = [os.path.relpath(c, os.path.join(ROOT, "checks")).encode() + b"\n" + read(c)
             for c in files[:4]]
    add("check_toml", SEP.join(parts))

# --- logs and rsyslog ---------------------------------------------------------------------------
for f in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "maillog", "*", "*.log"))):
    data = read(f)
    lines = data.splitlines(keepends=True)
    chunk = b""
    for line in lines:
        if len(chunk) + len(line) > 4096:
            add("maillog", chunk)
            chunk = b""
        chunk += line
    if chunk:
        add("maillog", chunk)
add("rsyslog", read("tests/data/maillog/rsyslog/rsyslog.conf"))
add("rsyslog", "mail.*\t-/var/log/mail.log\nauth,authpriv.*  /var/log/auth.log\n*.*;auth,authpriv.none -/var/log/syslog\n"
    "if $programname == 'postfix' then { action(type=\"omfile\" file=\"/var/log/pf.log\") stop }\n"
    ":programname, startswith, \"postfix\" /var/log/postfix.log\n& stop\n"
    "$IncludeConfig /etc/rsyslog.d/*.conf\ninclude(file=\"/etc/rsyslog.d/*.conf\" mode=\"optional\")\n"
    "mail.=info;mail.!err action(type=\"omfwd\" target=\"x\")\n")

# --- /proc, daemons, access, ssh ----------------------------------------------------------------
add("procfs", b"/usr/sbin/saslauthd\0-a\0pam\0-c\0-m\0/var/spool/postfix/var/run/saslauthd\0-n\0005\0")
add("procfs", "4062 (smtpd) S 4060 4060 4060 0 -1 4194560 1000 0 0 0 1 2 0 0 20 0 1 0 123456 "
    "12345678 1000 18446744073709551615 1 1 0 0 0 0 0 16781312 16384 0 0 0 17 1 0 0 0 0 0\n")
add("procfs", "4062 ((sd-pam) x) Z 1 2\n")
add("procfs", "Name:\tsmtpd\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t103\t103\t103\t103\n"
    "Gid:\t106\t106\t106\t106\nGroups:\t106 45 \n")
add("procfs", "cpu  1 2 3\nbtime 1764630000\nprocesses 12\n")
add("procfs", "12345.67 23456.78\n")
add("procfs", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17123 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:024B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17124 1\n")
add("procfs", "Num       RefCount Protocol Flags    Type St Inode Path\n"
    "0000000000000000: 00000002 00000000 00010000 0001 01 17200 /run/mysqld/mysqld.sock\n"
    "0000000000000000: 00000002 00000000 00010000 0001 01 17201 @abstract\n")
add("procfs", "socket:[17123]")
mycnf = [read(p) for p in ["tests/data/mycnf/my.cnf"] if os.path.exists(os.path.join(ROOT, p))]
server_cnf = ("[mysqld]\nuser = mysql\npid-file = /run/mysqld/mysqld.pid\nsocket = /run/mysqld/mysqld.sock\n"
              "bind-address = 127.0.0.1\nskip_networking\nloose-port=3307\n[client-server]\nport = 3306\n"
              "!include /etc/mysql/a.cnf\n!includedir /etc/mysql/conf.d/\n")
add("daemons", b"/usr/sbin/mariadbd\0--basedir=/usr\0--skip-networking\0--port=3306\0" + SEP
    + server_cnf.encode() + SEP + b"[mariadb]\nskip-networking=0\n[mariadb-10.11]\nbind_address = \"::1\" # x\n"
    + SEP + b"[mysqld]\ndisable-skip-networking\nsocket='/run/x.sock'\n!include /etc/mysql/my.cnf\n")
add("daemons", b"/usr/sbin/saslauthd\0-a\0pam\0-cr\0-m/var/run/saslauthd\0-n\0005\0-O\0x\0--\0y\0" + SEP
    + b"[client]\nsocket=/run/mysqld/mysqld.sock\n")
add("daemons", b"saslauthd\0-z\0-m" + SEP + SEP + SEP + b"10.11")
add("access_walk", bytes([1, 1, 1, 0, 0, 0]) + bytes([0b00000100, 0, 0xed, 0x01, 0, 0,
                                                      0b00000001, 1, 0xa4, 0x01, 4, 0,
                                                      0b00010101, 3, 0, 0, 0, 3]))
add("access_walk", bytes([0, 2, 2, 1, 3, 1]) + bytes(range(0, 60)))
for t in ["root@mx.example.com:2222", "[::1]:22", "admin@[2001:db8::1]", "::1", "mx",
          "a@b@c", "-oProxyCommand=x", "[x]y", "h:0", "h:65536", "u@[:1]:1"]:
    add("ssh_target", t)
add("firewall", b"\x19table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"
    b"\t\ttcp dport { 25, 587 } accept\n\t\ttcp dport 1-1024 drop\n\t}\n}\n")
add("firewall", b"\x19*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
    b"-A INPUT -p tcp -m multiport --dports 587,465:470 -j REJECT\nCOMMIT\n")

# --- write -------------------------------------------------------------------------------------
if os.path.isdir(OUT):
    shutil.rmtree(OUT)
total = 0
for target, items in sorted(seeds.items()):
    d = os.path.join(OUT, target)
    os.makedirs(d)
    for data in sorted(items):
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{target:20} {len(items):4} seeds")
print(f"{'total':20} {sum(len(v) for v in seeds.values()):4} seeds, {total // 1024} KiB")
