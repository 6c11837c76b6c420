"""A real authoritative DNS server for tests: UDP on 127.0.0.1, answers built with dnspython.

`records` maps a name to a list of (type, value): ("TXT", "v=spf1 -all") or ("CNAME", "target.example.net.").
Unknown names get NXDOMAIN; a known name without the asked type gets an empty NOERROR answer (NoAnswer).
CNAMEs are followed within the zone, as a recursive resolver would hand them to the client.

    with DNSServer({"mail.example.net": [("TXT", "v=spf1 -all")]}) as dns:
        env["CAMPAIGN_DNS_SERVER"] = dns.address      # "127.0.0.1:PORT"
"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _txt(value: str) -> str:
    # A TXT string is at most 255 bytes: long values (DKIM keys) are split into several strings, as published.
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class DNSServer:
    def __init__(self, records: dict[str, list[tuple[str, str]]]):
        self.records = {dns.name.from_text(k).canonicalize(): v for k, v in records.items()}
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DNSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001 — a malformed packet is dropped, like a real server would
                continue
            self.sock.sendto(self.answer(query).to_wire(max_size=65535), peer)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        question = query.question[0]
        name, wanted = question.name.canonicalize(), question.rdtype
        self.queries.append((name.to_text(), dns.rdatatype.to_text(wanted)))
        for _ in range(8):  # follow CNAMEs inside the zone
            entries = self.records.get(name)
            if entries is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            cname = [v for t, v in entries if t == "CNAME"]
            if cname and wanted != dns.rdatatype.CNAME:
                target = dns.name.from_text(cname[0]).canonicalize()
                response.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", target.to_text()))
                name = target
                continue
            values = [v for t, v in entries if dns.rdatatype.from_text(t) == wanted]
            if values:
                texts = [_txt(v) if wanted == dns.rdatatype.TXT else v for v in values]
                response.answer.append(dns.rrset.from_text_list(name, 300, "IN", wanted, texts))
            return response
        return response


def good_zone(domain: str, *, selector: str = "pm1", dmarc: str = "v=DMARC1; p=none") -> dict:
    """A domain set up as Gmail and Yahoo want it: SPF, one DKIM key, DMARC."""
    key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "A" * 300 + "IDAQAB"
    return {
        domain: [("TXT", "v=spf1 include:spf.mtasv.net ~all"), ("TXT", "google-site-verification=abc")],
        f"{selector}._domainkey.{domain}": [("TXT", f"k=rsa; p={key}")],
        f"_dmarc.{domain}": [("TXT", dmarc)],
    }
