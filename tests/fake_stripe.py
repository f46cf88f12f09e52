"""A small HTTP server that answers like the Stripe API for the calls the
Stripe adapter makes (customers, card PaymentMethods, SetupIntents,
PaymentIntents with idempotency keys and search, refunds). Test cards
behave as in Stripe's test mode; nothing leaves 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from callcredit.adapters.gateways.simulated import (
    CHARGES_FAIL,
    DECLINE,
    INSUFFICIENT_FUNDS,
    TEST_CARDS,
    TIMEOUT,
)
from callcredit.domain.cards import brand_of

BRAND_CODES = {"Visa": "visa", "Mastercard": "mastercard", "American Express": "amex"}
DECLINES = {
    DECLINE: ("generic_decline", "Your card was declined."),
    CHARGES_FAIL: ("generic_decline", "Your card was declined."),
    INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
}
SEARCH = re.compile(r"^metadata\['(\w+)'\]:'((?:[^'\\]|\\.)*)'$")


class FakeStripe:
    """State of the fake Stripe account and the requests it received."""

    def __init__(self, slow_seconds: float = 2.0) -> None:
        self.slow_seconds = slow_seconds
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}  # with the number, as Stripe keeps it
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, tuple[int, dict[str, Any]]] = {}  # by Idempotency-Key
        self.in_flight: set[str | None] = set()
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self.ids)}"

    def charged(self) -> list[dict[str, Any]]:
        """PaymentIntents that took money."""
        return [pi for pi in self.intents.values() if pi["status"] == "succeeded"]

    # -- endpoints --------------------------------------------------------
    def handle(
        self, method: str, path: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        key = headers.get("idempotency-key") if method == "POST" else None
        with self.lock:
            self.requests.append((method, path, form, headers))
            if key and key in self.replies:
                return self.replies[key]
            if key in self.in_flight:
                return 409, _error("idempotency_error", "idempotency_key_in_use",
                                   "A request with this key is still being processed")  # fmt: skip
            if key:
                self.in_flight.add(key)
        try:
            status, body = self._route(method, path, form)
        finally:
            with self.lock:
                self.in_flight.discard(key)
        if key:
            with self.lock:
                self.replies[key] = (status, body)
        return status, body

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        query = dict(parse_qsl(urlsplit(path).query))
        route = (method, urlsplit(path).path)
        if route == ("POST", "/v1/customers"):
            customer = {"id": self.new_id("cus"), "object": "customer", "name": form.get("name")}
            self.customers[customer["id"]] = customer
            return 200, customer
        if route == ("POST", "/v1/payment_methods"):
            return self._payment_method(form)
        if route == ("POST", "/v1/setup_intents"):
            return self._setup_intent(form)
        if route == ("POST", "/v1/payment_intents"):
            return self._payment_intent(form)
        if route == ("GET", "/v1/payment_intents/search"):
            return self._search(query.get("query", ""))
        if route == ("POST", "/v1/refunds"):
            return self._refund(form)
        return 404, _error("invalid_request_error", "resource_missing", f"No route {path}")

    def _payment_method(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        number = form["card[number]"]
        brand = BRAND_CODES.get(brand_of(number), "unknown")
        method = {
            "id": self.new_id("pm"), "object": "payment_method", "type": "card",
            "card": {"brand": brand, "last4": number[-4:],
                     "exp_month": int(form["card[exp_month]"]),
                     "exp_year": int(form["card[exp_year]"])},
            "customer": None,
        }  # fmt: skip
        self.methods[method["id"]] = {**method, "number": number}
        return 200, method

    def _setup_intent(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        method = self.methods.get(form.get("payment_method", ""))
        if method is None:
            return 400, _error("invalid_request_error", "resource_missing", "No such PaymentMethod")
        intent = {"id": self.new_id("seti"), "object": "setup_intent",
                  "customer": form.get("customer"), "payment_method": method["id"],
                  "usage": form.get("usage"), "status": "succeeded"}  # fmt: skip
        if TEST_CARDS.get(method["number"]) == DECLINE:
            intent["status"] = "requires_payment_method"
            code, message = DECLINES[DECLINE]
            return 402, _error("card_error", "card_declined", message, decline_code=code,
                               setup_intent=intent)  # fmt: skip
        method["customer"] = form.get("customer")
        return 200, intent

    def _payment_intent(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        method = self.methods.get(form.get("payment_method", ""))
        if method is None or method["customer"] != form.get("customer"):
            return 400, _error("invalid_request_error", "resource_missing", "No such PaymentMethod")
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent: dict[str, Any] = {
            "id": self.new_id("pi"), "object": "payment_intent", "amount": int(form["amount"]),
            "currency": form["currency"], "customer": form["customer"],
            "payment_method": method["id"], "metadata": metadata, "status": "succeeded",
            "latest_charge": self.new_id("ch"), "last_payment_error": None,
            "off_session": form.get("off_session"), "confirm": form.get("confirm"),
        }  # fmt: skip
        behaviour = TEST_CARDS.get(method["number"])
        with self.lock:
            self.intents[intent["id"]] = intent
        if behaviour in DECLINES:
            code, message = DECLINES[behaviour]
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                            "decline_code": code, "message": message}  # fmt: skip
            return 402, _error("card_error", "card_declined", message, decline_code=code,
                               payment_intent=intent)  # fmt: skip
        if behaviour == TIMEOUT:
            time.sleep(self.slow_seconds)  # the charge is made; the answer comes too late
        return 200, intent

    def _search(self, query: str) -> tuple[int, dict[str, Any]]:
        match = SEARCH.match(query)
        if not match:
            return 400, _error("invalid_request_error", "parameter_invalid", "Bad search query")
        field, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        with self.lock:
            found = [pi for pi in self.intents.values() if pi["metadata"].get(field) == value]
        return 200, {"object": "search_result", "data": found, "has_more": False,
                     "url": "/v1/payment_intents/search", "next_page": None}  # fmt: skip

    def _refund(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return 400, _error("invalid_request_error", "resource_missing", "No such charge")
        done = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        amount = int(form.get("amount", intent["amount"] - done))
        if done + amount > intent["amount"]:
            return 400, _error("invalid_request_error", "amount_too_large",
                               "Refund amount is greater than the unrefunded amount")  # fmt: skip
        refund = {"id": self.new_id("re"), "object": "refund", "amount": amount,
                  "payment_intent": intent["id"], "status": "succeeded"}  # fmt: skip
        self.refunds[refund["id"]] = refund
        return 200, refund


def _error(kind: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message, **extra}}


def _handler(stripe: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(body, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if headers.get("authorization") != "Bearer sk_test_fake":
                status, reply = 401, _error("invalid_request_error", "api_key", "Invalid API Key")
            else:
                status, reply = stripe.handle(method, self.path, form, headers)
            payload = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{next(stripe.ids)}")
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler
