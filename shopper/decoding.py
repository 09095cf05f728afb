"""Raw mail bytes → a readable message: headers, the agency's own words and the quoted original.

Chinese agency mail comes in every state: GB2312 labels over GBK or GB18030 bytes (the usual
case: Coremail and Outlook label GB2312 whatever they send), no label at all, Big5 from Hong Kong
and Taiwan software, UTF-8 labelled as something else, HTML-only bodies, RFC 2047 headers and raw
8-bit headers. We decode strictly where we can and guess by what reads as Chinese where we must.
A message we cannot decode is still returned (text decoded with replacement characters) with
`decode_error` saying what failed: the raw bytes are kept by the caller, nothing is dropped.

Attachments are listed (name, type, size) and never decoded or decompressed.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser

# The largest text body we decode; beyond it the text is cut and the message flagged.
MAX_TEXT_BYTES = 2 * 1024 * 1024

# Labels that mean "some GB encoding": GB18030 is a superset of all of them, so decoding every
# such label as GB18030 reads GBK and GB18030 bytes sent under a GB2312 label correctly.
_GB_LABELS = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn", "gb_2312-80", "chinese", "csgb2312",
              "x-euc-cn", "ms936", "windows-936", "gb2312-80"}
_BIG5_LABELS = {"big5", "big5-hkscs", "big5hkscs", "cp950", "x-big5", "csbig5", "ms950"}
_ASCII_LABELS = {"us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "unknown-8bit",
                 "x-unknown", "default"}

# Frequent characters of official Chinese mail, simplified and traditional: what makes a guess
# between GB18030 and Big5 readings of the same bytes.
_COMMON = set(
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道"
    "行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军者意无"
    "力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什二等"
    "产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几"
    "您好收悉受理答复投诉咨询建议来信办件编号工作日内反映问题部门联系电话感谢支持市民同志局委员会区街道办事处规定"
    "們這個來說國會對時裡為與發後過還進開動學現無樣長頭問關見話間點業體電東實應當經報處務號聯繫謝謝們請辦訴詢覆"
    "，。、；：？！“”（）《》"
)

_QUOTE_MARKERS = [
    re.compile(r"^\s*-{2,}\s*原始邮件\s*-{2,}\s*$"),
    re.compile(r"^\s*-{2,}\s*原始郵件\s*-{2,}\s*$"),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(转发|回复)的邮件\s*-{2,}\s*$"),
    re.compile(r"^\s*在.{1,80}写道[:：]\s*$"),
    re.compile(r"^\s*On .{1,200} wrote:\s*$"),
    re.compile(r"^\s*(发件人|寄件者|From)\s*[:：].+$"),
    re.compile(r"^\s*您(的)?原(来)?(信|邮件|留言)(内容)?(如下)?[:：]\s*$"),
    re.compile(r"^\s*>"),
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Decoded:
    subject: str = ""
    from_addr: str = ""
    from_name: str = ""
    to_addrs: list[str] = field(default_factory=list)  # To, Cc and Delivered-To, lower case
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    date_header: str | None = None
    text: str = ""  # the whole readable body
    own_text: str = ""  # the sender's own words
    quoted_text: str = ""  # the quoted original, if any
    charset: str | None = None  # what the body was read as (and the label when they differ)
    html_only: bool = False
    attachments: list[dict] = field(default_factory=list)
    decode_error: str | None = None

    def as_row(self) -> dict:
        """The `messages` columns this fills."""
        return {
            "subject": self.subject,
            "from_addr": self.from_addr,
            "to_addr": ", ".join(self.to_addrs),
            "message_id_header": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references_header": " ".join(self.references) or None,
            "date_header": self.date_header,
            "text": self.text,
            "own_text": self.own_text,
            "quoted_text": self.quoted_text,
            "charset": self.charset,
            "decode_error": self.decode_error,
        }


# ------------------------------------------------------------------------------------ charsets


def _score(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for c in text if c in _COMMON or c.isascii())
    bad = sum(1 for c in text if "\ue000" <= c <= "\uf8ff" or c == "\ufffd" or "\u3400" <= c <= "\u4dbf")
    return (good - 3 * bad) / len(text)


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str, str | None]:
    """Decode `data` declared as `label`. Returns (text, what it was read as, error or None)."""
    label = (label or "").strip().strip('"').lower() or None
    if not data:
        return "", label or "us-ascii", None
    if data.isascii():
        return data.decode("ascii"), label or "us-ascii", None
    if label in _GB_LABELS:
        order = ["gb18030", "utf-8", "big5hkscs"]
    elif label in _BIG5_LABELS:
        order = ["big5hkscs", "cp950", "utf-8", "gb18030"]
    elif label in ("utf-8", "utf8"):
        order = ["utf-8", "gb18030", "big5hkscs"]
    elif label and label not in _ASCII_LABELS:
        order = [label, "utf-8", "gb18030", "big5hkscs"]
    else:  # no label, or an ASCII/Latin label over 8-bit bytes: a guess
        order = ["utf-8", "gb18030", "big5hkscs"]

    candidates = []
    for codec in order:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec == order[0] and (codec == "utf-8" or label in _GB_LABELS | _BIG5_LABELS or codec == label):
            if _score(text) > 0.6 or codec == "utf-8":
                return text, _read_as(codec, label), None
        candidates.append((_score(text), codec, text))
    if label and label not in _ASCII_LABELS:
        # The labelled charset with a few bad bytes (a cut-off last character, a stray byte)
        # usually reads better than a clean decoding in a charset nobody named.
        codec = "gb18030" if label in _GB_LABELS else label
        try:
            lenient = data.decode(codec, errors="replace")
        except LookupError:
            lenient = None
        if lenient is not None and lenient.count("\ufffd") <= max(2, len(lenient) // 100):
            candidates.append((_score(lenient), codec, lenient))
    if candidates:
        score, codec, text = max(candidates, key=lambda c: c[0])
        bad = text.count("\ufffd")
        return text, _read_as(codec, label), (f"{bad} undecodable byte sequence(s) replaced" if bad else None)
    fallback = "gb18030" if label not in _BIG5_LABELS else "big5hkscs"
    text = data.decode(fallback, errors="replace")
    return text, _read_as(fallback, label), f"no charset fits the bytes (labelled {label or 'nothing'})"


def _read_as(codec: str, label: str | None) -> str:
    if label and label != codec and not (label in _GB_LABELS and codec == "gb18030"):
        return f"{codec} (labelled {label})"
    return label if label in _GB_LABELS else codec


def _clean_header(text: str) -> str:
    # Folded or injected line breaks and control characters never survive into a field.
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " "))).strip()


def decode_header(value) -> str:
    """An RFC 2047 (or raw 8-bit) header value as text, on one line."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    raw = str(value)
    try:
        pieces = email.header.decode_header(raw)
    except Exception:  # noqa: BLE001 - a broken encoded-word is shown as it stands
        pieces = [(raw, None)]
    out = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            # 8-bit bytes arrive as surrogates; real characters (already decoded) as themselves.
            piece = piece.encode("utf-8", "surrogateescape")
        out.append(decode_bytes(piece, charset)[0] if piece else "")
    # decode_header drops the spaces between an encoded word and plain text; keep them readable.
    joined = ""
    for part in out:
        if joined and not joined.endswith(" ") and part and not part.startswith(" ") and (
            joined[-1].isascii() and part[0].isascii()
        ):
            joined += " "
        joined += part
    return _clean_header(joined)


# ------------------------------------------------------------------------------------ HTML


class _TextFromHTML(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "blockquote", "pre"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self.out.append("\n")
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.out.append("\n")
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        data = re.sub(r"[ \t\r\n\xa0]+", " ", data)
        if self.quote and data.strip():
            data = "> " * self.quote + data.strip()
        self.out.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextFromHTML()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: fall back to stripping tags
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    # Blockquote lines were prefixed inline; make sure every quoted line starts its own line.
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


# ------------------------------------------------------------------------------------ quotes


def split_quoted(text: str) -> tuple[str, str]:
    """(own words, quoted original): everything from the first quote marker on is quoted."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if any(p.match(line) for p in _QUOTE_MARKERS):
            if i == 0 and line.lstrip().startswith(("发件人", "From", "寄件者")):
                continue  # a body that starts with a From: line is not a quote
            return "\n".join(lines[:i]).strip(), "\n".join(lines[i:]).strip()
    return text.strip(), ""


# ------------------------------------------------------------------------------------ message


def _raw_all(msg, name: str) -> list[str]:
    """A header's values exactly as sent (8-bit bytes kept as surrogates), for our own decoding."""
    name = name.lower()
    return [str(v) for k, v in msg.raw_items() if k.lower() == name]


def _raw(msg, name: str) -> str | None:
    values = _raw_all(msg, name)
    return values[0] if values else None


def _filename(part) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a header the library cannot parse
        name = None
    if name is None:
        for header in ("Content-Disposition", "Content-Type"):
            m = re.search(r'(?:file)?name\*?=\s*"?([^";\r\n]+)', _raw(part, header) or "", re.I)
            if m:
                name = m.group(1)
                break
    if name is None:
        return None
    if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
        name = email.utils.collapse_rfc2231_value(name)
    return decode_header(str(name))


def _b64_lenient(text: bytes) -> bytes:
    """Base64 with bad padding or junk: decode what is there rather than nothing."""
    import binascii

    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", text)
    clean = clean[: len(clean) - len(clean) % 4]
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def _addresses(msg, *names: str) -> list[str]:
    values = []
    for name in names:
        for value in _raw_all(msg, name):
            values.append(decode_header(value))
    found = []
    for _, addr in email.utils.getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr and addr not in found:
            found.append(addr)
    return found


def _msgids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def decode_message(raw: bytes) -> Decoded:
    """Decode one message; never raises on bad input, flags it instead."""
    out = Decoded()
    errors: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as err:  # noqa: BLE001
        out.decode_error = f"not parseable as mail: {err}"
        out.text = out.own_text = raw[:MAX_TEXT_BYTES].decode("utf-8", "replace")
        return out

    out.subject = decode_header(_raw(msg, "Subject"))
    from_values = [decode_header(v) for v in _raw_all(msg, "From")]
    from_pairs = email.utils.getaddresses(from_values)
    if from_pairs:
        out.from_name, out.from_addr = from_pairs[0][0].strip(), from_pairs[0][1].strip().lower()
    out.to_addrs = _addresses(msg, "Delivered-To", "To", "Cc", "X-Original-To")
    ids = _msgids(decode_header(_raw(msg, "Message-ID")))
    out.message_id = ids[0] if ids else None
    irt = _msgids(decode_header(_raw(msg, "In-Reply-To")))
    out.in_reply_to = irt[0] if irt else None
    out.references = _msgids(decode_header(_raw(msg, "References")))
    out.date_header = decode_header(_raw(msg, "Date")) or None
    if out.date_header:
        try:
            date = email.utils.parsedate_to_datetime(out.date_header)
            out.date = date if date.tzinfo else date.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError, IndexError):
            errors.append("unreadable Date header")

    plain: list[tuple[str, str]] = []
    htmls: list[tuple[str, str]] = []
    try:
        parts = list(msg.walk())
    except RecursionError:
        parts = [msg]
        errors.append("MIME nested too deep")
    for part in parts:
        if part.is_multipart():
            continue
        try:
            ctype = (part.get_content_type() or "text/plain").lower()
        except Exception:  # noqa: BLE001
            ctype = "application/octet-stream"
        disposition = (_raw(part, "Content-Disposition") or "").lower()
        filename = _filename(part)
        if filename or disposition.startswith("attachment") or not ctype.startswith("text/"):
            payload = part.get_payload()
            out.attachments.append(
                {"name": filename, "type": ctype,
                 "size": len(payload) if isinstance(payload, (str, bytes)) else 0}
            )
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception as err:  # noqa: BLE001
            errors.append(f"body part not decodable ({err})")
            data = str(part.get_payload()).encode("ascii", "surrogateescape")
        cte = (_raw(part, "Content-Transfer-Encoding") or "").strip().lower()
        if cte == "base64" and any(type(d).__name__ in ("InvalidBase64PaddingDefect", "InvalidBase64CharactersDefect",
                                                       "InvalidBase64LengthDefect") for d in part.defects):
            data = _b64_lenient(str(part.get_payload()).encode("ascii", "replace"))
        if len(data) > MAX_TEXT_BYTES:
            data = data[:MAX_TEXT_BYTES]
            errors.append("text cut at 2 MB")
        try:
            label = part.get_content_charset()
        except Exception:  # noqa: BLE001 - an unparseable Content-Type: guess the charset
            label = None
        text, read_as, error = decode_bytes(data, label)
        if error:
            errors.append(error)
        (htmls if ctype == "text/html" else plain).append((text, read_as))

    if plain:
        out.text = "\n\n".join(t for t, _ in plain).strip()
        out.charset = plain[0][1]
    elif htmls:
        out.html_only = True
        out.text = "\n\n".join(html_to_text(t) for t, _ in htmls).strip()
        out.charset = htmls[0][1]
    else:
        errors.append("no text part")
    out.text = out.text.replace("\r\n", "\n").replace("\r", "\n")
    out.own_text, out.quoted_text = split_quoted(out.text)
    if msg.defects:
        names = sorted({type(d).__name__ for d in msg.defects})
        if any(n in ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
                     "MultipartInvariantViolationDefect", "NoBoundaryInMultipartDefect") for n in names):
            errors.append("broken MIME: " + ", ".join(names))
    out.decode_error = "; ".join(dict.fromkeys(errors)) or None
    return out
