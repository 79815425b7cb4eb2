#!/usr/bin/python3
"""A stand-in for mediaMTX, for tests and as a camera simulator (graphrun `sim`).

A camera publishes H.264 with RTSP RECORD on the publish port; readers PLAY it from the read
port. gst-rtsp-server cannot RECORD and PLAY one mount on one port, so there are two servers in
this process and the publisher's access units are handed to every reader's pipeline in memory
(appsink -> appsrc). Over the wire it behaves as graphrun sees mediaMTX: TCP only, Basic auth
with separate publisher and reader users, 404 for an unknown path and for a path nobody
publishes on, readers dropped when their publisher goes, a new publisher replacing the old one.

Run with Debian's interpreter (needs python3-gi and gir1.2-gst-rtsp-server-1.0):
  SIM_PUBLISH_PASS=... SIM_READ_PASS=... /usr/bin/python3 rtsp-relay.py --paths garden \
      --publish-port 8555 --read-port 8554 --publish-user pub --read-user graphrun
stdout: one JSON line {"ready": true, ...} once both ports listen. stderr: JSON event lines.
"""
import argparse
import itertools
import json
import os
import signal
import sys
import threading
import time

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtsp', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# mediaMTX's realm, so clients see the same challenge as in production.
REALM = 'IPCAM'
# Readers hold at most this much not-yet-sent video before the oldest is dropped, so a stalled
# reader cannot grow the relay without bound.
READER_QUEUE_BYTES = 4 * 1024 * 1024


def log(event, **fields):
    line = json.dumps({'t': round(time.time(), 3), 'event': event, **fields})
    try:
        sys.stderr.write(line + '\n')
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def peer(client):
    try:
        conn = client.get_connection()
        return f'{conn.get_ip()}' if conn is not None else None
    except Exception:  # the connection may already be gone when a client closes
        return None


class Reader:
    """One reader pipeline's appsrc and the offset that maps publisher time onto its clock."""

    def __init__(self, appsrc):
        self.appsrc = appsrc
        self.offset = None
        self.ended = False


class Path:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.publisher = None  # the GstRTSPClient whose stream readers get
        self.sid = None  # the current publisher's media; samples from any other are stale
        self.pending_sid = None
        self.caps = None  # set from the first sample: readers cannot start before
        self.last_sample = 0.0
        self.readers = []  # Reader
        self.reader_clients = set()


class Relay:
    def __init__(self, opts):
        self.opts = opts
        self.paths = {name: Path(name) for name in opts.paths}
        self.loop = GLib.MainLoop()
        self.basic = {}
        self.session_ids = itertools.count(1)
        self.publish_server = self._server(opts.publish_port, opts.publish_user, opts.publish_pass, 'publisher')
        self.read_server = self._server(opts.read_port, opts.read_user, opts.read_pass, 'reader')
        for p in self.paths.values():
            self.publish_server.get_mount_points().add_factory('/' + p.name, self._record_factory(p))
            self.read_server.get_mount_points().add_factory('/' + p.name, self._play_factory(p))
        self.publish_server.connect('client-connected', self._on_publish_client)
        self.read_server.connect('client-connected', self._on_read_client)

    # --- servers -----------------------------------------------------------------------------

    def _server(self, port, user, password, role):
        self.basic[role] = GstRtspServer.RTSPAuth.make_basic(user, password)
        server = GstRtspServer.RTSPServer.new()
        server.set_address(self.opts.host)
        server.set_service(str(port))
        auth = GstRtspServer.RTSPAuth()
        auth.set_realm(REALM)
        token = GstRtspServer.RTSPToken()
        token.set_string('media.factory.role', role)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        return server

    def _permissions(self, role):
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role(role, 'media.factory.access', True)
        perms.add_permission_for_role(role, 'media.factory.construct', True)
        return perms

    def _authenticated(self, ctx, role):
        # gst-rtsp-server authenticates when it looks the factory up, after the pre-*-request
        # signals; answering 404 there to a client without credentials would hide the 401
        # challenge it needs to retry with them. So those handlers only judge paths for
        # clients that are authenticated already, and leave the rest to the factory's check.
        res, value = ctx.request.get_header(GstRtsp.RTSPHeaderField.AUTHORIZATION, 0)
        if res != GstRtsp.RTSPResult.OK or value is None:
            return False
        scheme, _, cred = value.strip().partition(' ')
        return scheme.lower() == 'basic' and cred.strip() == self.basic[role]

    def _path_of(self, ctx):
        uri = ctx.uri
        if uri is None:
            return None
        parts = (uri.abspath or '').strip('/').split('/')
        # SETUP uses /path/stream=0; the first segment names the path.
        return self.paths.get(parts[0]) if parts and parts[0] else None

    # --- publish side ------------------------------------------------------------------------

    def _record_factory(self, path):
        f = GstRtspServer.RTSPMediaFactory.new()
        f.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
        f.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        f.set_permissions(self._permissions('publisher'))
        # Over TCP nothing is reordered or lost: the jitterbuffer only adds delay.
        f.set_latency(0)
        # avc caps carry SPS/PPS as codec_data, so a reader's SDP has sprop-parameter-sets at
        # once; config-interval=-1 also repeats them in-band before every IDR, as mediaMTX
        # clients see from a Pi's encoder.
        f.set_launch(
            '( rtph264depay name=depay0 ! h264parse config-interval=-1 '
            '! video/x-h264,stream-format=avc,alignment=au '
            '! appsink name=sink emit-signals=true sync=false async=false max-buffers=64 drop=true )')
        f.connect('media-configure', self._on_record_configure, path)
        return f

    def _on_publish_client(self, server, client):
        client.connect('pre-announce-request', self._on_pre_announce)
        client.connect('closed', self._on_publish_client_closed)

    def _on_record_configure(self, factory, media, path):
        # Called inside an authenticated ANNOUNCE, just before its pre-announce-request signal
        # on the same thread (gst-rtsp-server handles every client on the one main context),
        # which is where the publishing client becomes known.
        sid = next(self.session_ids)
        with path.lock:
            path.pending_sid = sid
        sink = media.get_element().get_by_name('sink')
        sink.connect('new-sample', self._on_sample, path, sid)
        sink.connect('eos', lambda _s: self._publisher_gone_sid(path, sid, 'end of stream'))
        media.connect('unprepared', lambda _m: self._publisher_gone_sid(path, sid, 'session closed'))
        media.connect('prepared', self._on_record_prepared)

    def _on_record_prepared(self, media):
        # mediaMTX passes the camera's RTP timestamps on untouched. The jitterbuffer's default
        # mode would blend in arrival times (and network jitter); "none" keeps the sender's
        # clock, so readers see the same frame spacing the camera sent.
        pipeline = media.get_element().get_parent()
        if pipeline is None:
            return
        def visit(el):
            factory = el.get_factory()
            if factory is not None and factory.get_name() == 'rtpbin':
                el.set_property('buffer-mode', 0)
        pipeline.iterate_elements().foreach(visit)

    def _on_pre_announce(self, client, ctx):
        path = self._path_of(ctx)
        if path is None:
            return GstRtsp.RTSPStatusCode.NOT_FOUND
        with path.lock:
            sid, path.pending_sid = path.pending_sid, None
            old = path.publisher
        if sid is None:
            return GstRtsp.RTSPStatusCode.OK
        if old is not None and old is not client:
            # mediaMTX's default (overridePublisher): a camera that reconnects before its old
            # TCP connection timed out takes the path over.
            self._publisher_gone(path, old, 'replaced by a new publisher')
            GLib.idle_add(self._close_client, old)
        with path.lock:
            path.publisher = client
            path.sid = sid
            path.caps = None
            path.last_sample = time.monotonic()
        log('publisher_connected', path=path.name, peer=peer(client))
        return GstRtsp.RTSPStatusCode.OK

    def _on_sample(self, sink, path, sid):
        sample = sink.emit('pull-sample')
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        with path.lock:
            if path.sid != sid:
                return Gst.FlowReturn.OK
            first = path.caps is None
            path.caps = sample.get_caps()
            path.last_sample = time.monotonic()
            readers = list(path.readers)
        if first:
            s = path.caps.get_structure(0)
            log('publisher_streaming', path=path.name, width=s.get_value('width'), height=s.get_value('height'),
                profile=s.get_value('profile'))
        for r in readers:
            self._push(r, buf)
        return Gst.FlowReturn.OK

    def _on_publish_client_closed(self, client):
        for path in self.paths.values():
            if path.publisher is client:
                self._publisher_gone(path, client, 'connection closed')

    def _publisher_gone_sid(self, path, sid, reason):
        with path.lock:
            if path.sid != sid:
                return
            client = path.publisher
        self._publisher_gone(path, client, reason)

    def _publisher_gone(self, path, client, reason):
        with path.lock:
            if path.publisher is not client:
                return
            path.publisher = None
            path.sid = None
            path.caps = None
            readers = path.readers
            path.readers = []
            clients = list(path.reader_clients)
            path.reader_clients.clear()
        log('publisher_gone', path=path.name, reason=reason)
        for r in readers:
            r.ended = True
            r.appsrc.emit('end-of-stream')
        # Like mediaMTX, a reader of a path whose source went away loses its connection rather
        # than waiting on a silent session; closing must happen on the server's main context.
        for c in clients:
            log('reader_dropped', path=path.name, peer=peer(c), reason='publisher gone')
            GLib.idle_add(self._close_client, c)

    def _close_client(self, client):
        client.close()
        return GLib.SOURCE_REMOVE

    def _watchdog(self):
        # A publisher whose TCP connection stays up but sends nothing is gone for readers too
        # (mediaMTX's readTimeout).
        now = time.monotonic()
        for path in self.paths.values():
            with path.lock:
                client = path.publisher if now - path.last_sample > self.opts.read_timeout else None
            if client is not None:
                self._publisher_gone(path, client, f'no data for {self.opts.read_timeout:g} s')
                GLib.idle_add(self._close_client, client)
        return GLib.SOURCE_CONTINUE

    # --- read side ---------------------------------------------------------------------------

    def _play_factory(self, path):
        f = GstRtspServer.RTSPMediaFactory.new()
        f.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        f.set_permissions(self._permissions('reader'))
        # One pipeline per reader: each starts where it joins, as with mediaMTX (no GOP cache:
        # a reader sees frames it cannot decode until the next IDR, just as in production).
        # SPS/PPS are already in-band from the publish side; rtph264pay's config-interval=-1
        # would add them before every IDR slice and split a multi-slice frame in two.
        f.set_shared(False)
        f.set_launch(
            '( appsrc name=src is-live=true format=time do-timestamp=false block=false '
            f'max-bytes={READER_QUEUE_BYTES} leaky-type=downstream '
            '! rtph264pay name=pay0 pt=96 aggregate-mode=zero-latency )')
        f.connect('media-configure', self._on_play_configure, path)
        return f

    def _on_read_client(self, server, client):
        client.connect('pre-describe-request', self._on_pre_read_request)
        client.connect('pre-setup-request', self._on_pre_read_request)
        client.connect('pre-play-request', self._on_pre_read_request)
        client.connect('play-request', self._on_play_request)
        client.connect('closed', self._on_read_client_closed)

    def _on_pre_read_request(self, client, ctx):
        if not self._authenticated(ctx, 'reader'):
            return GstRtsp.RTSPStatusCode.OK
        path = self._path_of(ctx)
        if path is None:
            return GstRtsp.RTSPStatusCode.NOT_FOUND
        with path.lock:
            ready = path.publisher is not None and path.caps is not None
            if ready:
                path.reader_clients.add(client)
        # mediaMTX answers 404 to a reader of a path nobody publishes on.
        return GstRtsp.RTSPStatusCode.OK if ready else GstRtsp.RTSPStatusCode.NOT_FOUND

    def _on_play_request(self, client, ctx):
        path = self._path_of(ctx)
        if path is not None:
            log('reader_connected', path=path.name, peer=peer(client))

    def _on_read_client_closed(self, client):
        for path in self.paths.values():
            with path.lock:
                was = client in path.reader_clients
                path.reader_clients.discard(client)
            if was:
                log('reader_gone', path=path.name, peer=peer(client))

    def _on_play_configure(self, factory, media, path):
        appsrc = media.get_element().get_by_name('src')
        # Pacing comes from the publisher (frames arrive in real time); letting the sink also
        # sync on timestamps would only add delay.
        for i in range(media.n_streams()):
            media.get_stream(i).set_rate_control(False)
        with path.lock:
            caps = path.caps
            r = Reader(appsrc)
            if caps is not None:
                appsrc.set_property('caps', caps)
                path.readers.append(r)
        if caps is None:
            # The publisher went away between DESCRIBE's check and here.
            appsrc.emit('end-of-stream')
            return
        media.connect('unprepared', lambda _m: self._remove_reader(path, r))

    def _remove_reader(self, path, reader):
        with path.lock:
            if reader in path.readers:
                path.readers.remove(reader)

    def _push(self, reader, buf):
        if reader.ended or buf.pts == Gst.CLOCK_TIME_NONE:
            return
        if reader.offset is None:
            rt = reader.appsrc.get_current_running_time()
            reader.offset = (0 if rt == Gst.CLOCK_TIME_NONE else rt) - buf.pts
        pts = buf.pts + reader.offset
        if pts < 0:
            # Only B-frames shown before the reader's first frame: undecodable for it anyway.
            return
        out = buf.copy()
        out.pts = pts
        out.dts = Gst.CLOCK_TIME_NONE
        reader.appsrc.emit('push-buffer', out)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self):
        # create_source, not attach: attach hides the reason (port in use) behind a 0.
        for name, server in (('publish', self.publish_server), ('read', self.read_server)):
            try:
                server.create_source(None).attach(None)
            except GLib.Error as e:
                raise OSError(f'{name} port {server.get_service()}: {e.message}') from None
        GLib.timeout_add(500, self._watchdog)
        # Expired sessions (a client that vanished without closing TCP) must not pile up.
        for server in (self.publish_server, self.read_server):
            GLib.timeout_add_seconds(2, self._cleanup_sessions, server)
        ready = {
            'ready': True,
            'host': self.opts.host,
            'publishPort': self.publish_server.get_bound_port(),
            'readPort': self.read_server.get_bound_port(),
            'paths': list(self.paths),
            'pid': os.getpid(),
        }
        sys.stdout.write(json.dumps(ready) + '\n')
        sys.stdout.flush()
        log('listening', publishPort=ready['publishPort'], readPort=ready['readPort'], paths=ready['paths'])

    def _cleanup_sessions(self, server):
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    def stop(self, why):
        log('stopping', reason=why)
        for path in self.paths.values():
            with path.lock:
                client = path.publisher
            if client is not None:
                self._publisher_gone(path, client, 'relay stopping')
        self.loop.quit()
        return GLib.SOURCE_REMOVE


def parse_args(argv):
    p = argparse.ArgumentParser(description='mediaMTX stand-in: RTSP publish port -> read port, H.264 over TCP.')
    p.add_argument('--host', default='127.0.0.1', help='address both ports listen on (default 127.0.0.1)')
    p.add_argument('--publish-port', type=int, default=8555, help='RECORD port (0: any free port)')
    p.add_argument('--read-port', type=int, default=8554, help='PLAY port (0: any free port)')
    p.add_argument('--paths', default='garden', help='comma-separated path names (default garden)')
    p.add_argument('--publish-user', default='publisher')
    p.add_argument('--publish-pass', default=os.environ.get('SIM_PUBLISH_PASS'),
                   help='default: $SIM_PUBLISH_PASS (keeps it off the command line)')
    p.add_argument('--read-user', default='graphrun')
    p.add_argument('--read-pass', default=os.environ.get('SIM_READ_PASS'),
                   help='default: $SIM_READ_PASS (keeps it off the command line)')
    p.add_argument('--read-timeout', type=float, default=10.0,
                   help='seconds without data before a publisher counts as gone (default 10)')
    p.add_argument('--exit-on-stdin-close', action='store_true',
                   help='exit when stdin reaches end of file (a parent that dies cannot leave us behind)')
    o = p.parse_args(argv)
    o.paths = [s.strip() for s in o.paths.split(',') if s.strip()]
    if not o.paths or any('/' in s or s.startswith('.') for s in o.paths):
        p.error('--paths: one or more names without "/"')
    if not o.publish_pass or not o.read_pass:
        p.error('passwords: --publish-pass/--read-pass or SIM_PUBLISH_PASS/SIM_READ_PASS')
    if o.publish_user == o.read_user:
        p.error('--publish-user and --read-user must differ (separate permissions)')
    return o


# The elements the two pipelines are made of, and the Debian packages that carry them: checked
# up front, because a missing one would otherwise surface only as a failed ANNOUNCE later.
ELEMENTS = {
    'rtph264depay': 'gstreamer1.0-plugins-good', 'rtph264pay': 'gstreamer1.0-plugins-good',
    'rtpbin': 'gstreamer1.0-plugins-good', 'h264parse': 'gstreamer1.0-plugins-bad',
    'appsrc': 'gstreamer1.0-plugins-base', 'appsink': 'gstreamer1.0-plugins-base',
}


def main(argv):
    opts = parse_args(argv)
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        packages = sorted({ELEMENTS[e] for e in missing})
        log('error', message=f'GStreamer elements missing: {", ".join(missing)} (apt-get install -y {" ".join(packages)})')
        return 1
    relay = Relay(opts)
    try:
        relay.start()
    except OSError as e:
        log('error', message=str(e))
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, relay.stop, signal.Signals(sig).name)
    if opts.exit_on_stdin_close:
        def on_stdin(fd, _cond):
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b''
            if data:
                return GLib.SOURCE_CONTINUE
            relay.stop('stdin closed')
            return GLib.SOURCE_REMOVE
        GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(), GLib.IOCondition.IN | GLib.IOCondition.HUP,
                              on_stdin)
    relay.loop.run()
    log('exit')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
