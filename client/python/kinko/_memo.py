"""The client's memory of kinko's answers, as the Go client keeps it (client/internal/memo).

An answer lives for half of the freshness kinko declared for it (its Cache-Status ttl),
counted from when its request was sent; a stale, ttl-less or unreadable answer not at all.
A small LRU: a function reads a few secrets.
"""
import _thread  # the lock without threading's import: this runs in every cold start
from collections import OrderedDict

# A ttl longer than this is no real freshness lifetime: such an answer is not kept.
_MAX_TTL = 1 << 31


class Memo:
    """An LRU of answers, each kept for half the ttl kinko gave. Safe across threads.

    Times are (monotonic, wall) pairs from the client's clock: an answer's age is the older
    of the two readings, so a clock that stood still (a frozen or restored sandbox) never makes
    an old answer fresh, and a clock that ran backwards makes it stale.
    """

    def __init__(self, size):
        self._size = size
        self._items = OrderedDict()  # key -> [sent, keep seconds, value]; value None: dropped
        self._lock = _thread.allocate_lock()

    def get(self, key, now):
        """The kept value for key and the seconds it stays fresh, or None."""
        with self._lock:
            e = self._items.get(key)
            if e is None or e[2] is None:
                return None
            left = _left(e, now)
            if left <= 0:
                del self._items[key]
                return None
            self._items.move_to_end(key, last=False)
            return e[2], left

    def put(self, key, sent, status_lines, value):
        """Record the answer to a request for key sent at sent.

        An answer with a ttl is kept for half of it; any other (AWS's extension, stale, no
        ttl) replaces what was kept with nothing. An answer to a request older than what is
        kept for key (a request that a refresh overtook) changes nothing.
        """
        keep = keep_for(status_lines)
        with self._lock:
            e = self._items.get(key)
            if e is not None:
                if sent[0] < e[0][0]:
                    return
                if keep <= 0:
                    del self._items[key]
                    return
                e[0], e[1], e[2] = sent, keep, value
                self._items.move_to_end(key, last=False)
                return
            if keep > 0:
                self._insert(key, [sent, keep, value])

    def drop(self, key, now):
        """Forget what is kept for key as of now: no answer to an earlier request may replace it."""
        with self._lock:
            e = self._items.get(key)
            if e is not None:
                e[0], e[1], e[2] = now, 0, None
                self._items.move_to_end(key, last=False)
                return
            self._insert(key, [now, 0, None])

    def clear(self):
        with self._lock:
            self._items.clear()

    def __len__(self):
        return len(self._items)

    def _insert(self, key, entry):
        self._items[key] = entry
        self._items.move_to_end(key, last=False)
        while len(self._items) > self._size:
            self._items.popitem(last=True)


def _left(entry, now):
    sent = entry[0]
    age = max(now[0] - sent[0], now[1] - sent[1])
    if age < 0:  # a clock that ran backwards: trust nothing
        return 0
    return entry[1] - age


def keep_for(lines):
    """Seconds an answer with these Cache-Status field lines may be kept: half the ttl of the
    cache nearest the client (the list's last member), 0 for none.

    RFC 9211: the field is a Structured Fields list of caches, each a token or a string with
    parameters; ttl is an integer, the seconds of freshness left. Anything malformed, or a
    member calling itself stale, keeps nothing.
    """
    if not lines:
        return 0
    field = ",".join(lines)
    member = _last_member(field)
    if member is None:
        return 0
    ttl = -1
    while member:
        p = _next_param(member)
        if p is None:
            return 0
        name, value, member = p
        if name == "ttl":
            n = _sf_integer(value)
            if n is None:
                return 0
            ttl = n
        elif name == "detail":
            if "stale" in _unquote(value):
                return 0
    if ttl <= 0 or ttl > _MAX_TTL:
        return 0
    return ttl / 2


def _last_member(field):
    """The parameters of the field's last list member (from its first ';'), or None."""
    start, in_quote, i = 0, False, 0
    while i < len(field):
        c = field[i]
        if in_quote and c == "\\":
            i += 1
        elif c == '"':
            in_quote = not in_quote
        elif not in_quote and c == ",":
            start = i + 1
        i += 1
    if in_quote:
        return None
    m = field[start:].strip(" \t")
    if not m:
        return None
    if m[0] == '"':
        end = _quoted_end(m)
        return None if end < 0 else m[end:]
    i = m.find(";")
    if i < 0:
        i = len(m)
    if not _is_token(m[:i]):
        return None
    return m[i:]


def _next_param(s):
    """Read ";key[=value]" from the front of s: (name, value, rest), or None."""
    if s[0] != ";":
        return None
    s = s[1:].lstrip(" ")
    i = 0
    while i < len(s) and s[i] not in "=;":
        i += 1
    name = s[:i]
    if not _is_key(name):
        return None
    if i == len(s) or s[i] == ";":
        return name, "?1", s[i:]  # a bare key is boolean true
    s = s[i + 1:]
    if s and s[0] == '"':
        end = _quoted_end(s)
        if end < 0:
            return None
        value, rest = s[:end], s[end:]
    else:
        j = s.find(";")
        if j < 0:
            j = len(s)
        value, rest = s[:j].rstrip(" "), s[j:]
    if not value:
        return None
    return name, value, rest.rstrip(" ")


def _quoted_end(s):
    i = 1
    while i < len(s):
        if s[i] == "\\":
            i += 1
        elif s[i] == '"':
            return i + 1
        i += 1
    return -1


def _unquote(v):
    if len(v) >= 2 and v[0] == '"':
        return v[1:-1].replace("\\", "")
    return v


def _sf_integer(v):
    digits = v[1:] if v.startswith("-") else v
    if not 0 < len(digits) <= 15 or not all("0" <= c <= "9" for c in digits):
        return None
    return int(v)


_KEY_REST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.*")
_TOKEN_BAD = frozenset('"(),;<=>?@[\\]{}')


def _is_key(s):
    if not s or not (s[0] == "*" or "a" <= s[0] <= "z"):
        return False
    return all(c in _KEY_REST for c in s[1:])


def _is_token(s):
    if not s or not (s[0] == "*" or "a" <= s[0] <= "z" or "A" <= s[0] <= "Z"):
        return False
    return all(" " < c < "\x7f" and c not in _TOKEN_BAD for c in s[1:])
