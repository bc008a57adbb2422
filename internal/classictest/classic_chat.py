#!/usr/bin/env python3
"""A minimal chat server and client speaking the classic Python select() chat wire, for
reactor's tests. Written for this project; it keeps the classic programs' wire and texts:

  frame   = struct.pack("L", socket.htonl(len(body))) + body   (8 bytes on 64-bit Linux)
  body    = pickle.dumps(args)  -- a tuple of strings; the receiver takes element [0]
  client  -> "NAME: <name>";  server -> "CLIENT: <client's IP>"
  server  -> others: "\n(Connected: New client (<n>) from <name>@<ip>)"
             "\n#[<name>@<ip>]>><line>"
             "\n(Now hung up: Client from <name>@<ip>)"

Unlike the classic programs, it is scriptable: the client sends the lines of its standard input
and leaves at their end, printing each message it receives as one JSON string a line; the
server prints "listening <port>" and stops when its standard input closes (the classic server
stopped on a line typed at it). Reads loop until a frame is whole, where the classic receive()
took what one recv() gave.

  classic_chat.py server [--protocol N]
  classic_chat.py client --name NAME --port PORT [--host HOST] [--protocol N]

--protocol is the pickle protocol sent (default: this Python's pickle.dumps default, which is
what the classic programs give once ported to Python 3).
"""
import argparse
import json
import pickle
import select
import socket
import struct
import sys

HEADER = struct.calcsize("L")
PROTOCOL = None


def send(channel, *args):
    buf = pickle.dumps(args) if PROTOCOL is None else pickle.dumps(args, PROTOCOL)
    channel.sendall(struct.pack("L", socket.htonl(len(buf))) + buf)


def recv_exact(channel, n):
    data = b""
    while len(data) < n:
        chunk = channel.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def receive(channel):
    """The next message, or '' when the peer has gone (as the classic receive())."""
    header = recv_exact(channel, HEADER)
    if header is None:
        return ""
    size = socket.ntohl(struct.unpack("L", header)[0])
    buf = recv_exact(channel, size)
    if buf is None:
        return ""
    return pickle.loads(buf)[0]


def serve():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    print("listening %d" % server.getsockname()[1], flush=True)
    clients = 0
    clientmap = {}
    inputs = [server, sys.stdin]
    outputs = []

    def name_of(client):
        address, cname = clientmap[client]
        return "@".join((cname, address[0]))

    while True:
        readable, _, _ = select.select(inputs, [], [])
        for sock in readable:
            if sock is server:
                client, address = server.accept()
                cname = receive(client).split("NAME: ")[1]
                clients += 1
                send(client, "CLIENT: " + str(address[0]))
                inputs.append(client)
                clientmap[client] = (address, cname)
                msg = "\n(Connected: New client (%d) from %s)" % (clients, name_of(client))
                for output in outputs:
                    send(output, msg)
                outputs.append(client)
            elif sock is sys.stdin:
                if not sys.stdin.readline():
                    server.close()
                    return
            else:
                try:
                    data = receive(sock)
                except OSError:
                    data = ""
                if data:
                    msg = "\n#[" + name_of(sock) + "]>>" + data
                    for output in outputs:
                        if output is not sock:
                            send(output, msg)
                else:
                    clients -= 1
                    sock.close()
                    inputs.remove(sock)
                    outputs.remove(sock)
                    msg = "\n(Now hung up: Client from %s)" % name_of(sock)
                    for output in outputs:
                        send(output, msg)


def client(name, host, port):
    sock = socket.create_connection((host, port))
    send(sock, "NAME: " + name)
    data = receive(sock)
    print(json.dumps(data), flush=True)
    data.split("CLIENT: ")[1]  # the classic client's check: fails unless the reply has it
    stdin_open = True
    while True:
        watch = [sock, sys.stdin] if stdin_open else [sock]
        readable, _, _ = select.select(watch, [], [])
        if sys.stdin in readable:
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
                sock.shutdown(socket.SHUT_WR)
            elif line.strip():
                send(sock, line.strip())
        if sock in readable:
            data = receive(sock)
            if not data:
                return
            print(json.dumps(data), flush=True)


def main():
    global PROTOCOL
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--name")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--protocol", type=int)
    a = p.parse_args()
    PROTOCOL = a.protocol
    if a.mode == "server":
        serve()
    else:
        client(a.name, a.host, a.port)


if __name__ == "__main__":
    main()
