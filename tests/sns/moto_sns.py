"""moto's SNS emulator for the tests, on 127.0.0.1:SNS_PORT, and on 127.0.0.1:SMS_PORT a read-out
of the SMS it has accepted: GET / answers [{"phone": ..., "message": ...}, ...] in order.
moto keeps the SMS in its in-process backend, so both servers run in this one process.

moto's own server (`ThreadedMotoServer`, werkzeug's) closes the connection after every answer,
which SNS does not: each Publish would pay a new TCP connection, and `make bench` would count
that against send-code. So moto's application is served by waitress, which keeps connections
alive as SNS does."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sns.models import sns_backends
from waitress import serve


class SmsReadout(BaseHTTPRequestHandler):
    def do_GET(self):
        messages = [
            {"phone": phone, "message": text}
            for _, regions in sns_backends.items()
            for _, backend in regions.items()
            for phone, text in backend.sms_messages.values()
        ]
        body = json.dumps(messages).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    sns_port, sms_port = int(sys.argv[1]), int(sys.argv[2])
    moto = DomainDispatcherApplication(create_backend_app)
    Thread(
        target=serve,
        args=(moto,),
        kwargs={"host": "127.0.0.1", "port": sns_port, "threads": 8, "_quiet": True},
        daemon=True,
    ).start()
    ThreadingHTTPServer(("127.0.0.1", sms_port), SmsReadout).serve_forever()


if __name__ == "__main__":
    main()
