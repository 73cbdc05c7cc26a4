"""bucketfs function shim (protocol fnproc/1).

Reads one request JSON document from stdin, runs the user's handler and
writes one result JSON document to file descriptor 3. stdout and stderr are
the call's logs. Two handler styles:

- cognite: handle(...) declaring any subset of data, client, secrets,
  function_call_info; the shim passes only the declared names, by keyword.
- cim: environment.yaml entrypoints called as fn(metadata, event, service);
  the return value is normalised like the csfunctions SDK does.

With --check the shim validates a handler instead (static AST check, then an
import), which is how a deploy proves the code loads.
"""
import json
import os
import sys

ALLOWED = ("data", "client", "secrets", "function_call_info")
ACTION_NAMES = ("abort_and_show_error", "start_workflow")


def write_result(doc):
    text = json.dumps(doc)
    try:
        f = os.fdopen(3, "w")
    except OSError:
        path = os.environ.get("FX_RESULT_FILE")
        if not path:
            raise
        f = open(path, "w")
    with f:
        f.write(text)


def error_doc(exc, etype=None):
    import traceback
    return {
        "type": etype or type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "trace": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


class Obj(dict):
    """A dict with attribute access, standing in for SDK model objects."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def to_obj(v):
    if isinstance(v, dict):
        return Obj({k: to_obj(x) for k, x in v.items()})
    if isinstance(v, list):
        return [to_obj(x) for x in v]
    return v


# ---- Access Service client (same wire calls as csfunctions) ----

class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass


class UnprocessableEntity(Exception):
    pass


class RateLimitExceeded(Exception):
    pass


def _http(method, url, token=None, params=None, body=None, headers=None, timeout=10):
    import urllib.error
    import urllib.parse
    import urllib.request
    if params:
        url = url + "?" + urllib.parse.urlencode(params)
    hdrs = dict(headers or {})
    data = None
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


class _Base:
    def __init__(self, metadata):
        self.metadata = metadata

    def request(self, endpoint, method="GET", params=None, json=None):
        url_base = self.metadata.get("service_url")
        token = self.metadata.get("service_token")
        if url_base is None:
            raise ValueError("No service url given.")
        if token is None:
            raise ValueError("No service token given.")
        url = str(url_base).rstrip("/") + "/" + endpoint.lstrip("/")
        status, body, _ = _http(method, url, token=token, params=params, body=json)
        text = body.decode("utf-8", "replace")
        if status == 401:
            raise Unauthorized(text)
        if status == 403:
            raise Forbidden(text)
        if status == 409:
            raise Conflict(text)
        if status == 404:
            raise NotFound(text)
        if status == 422:
            raise UnprocessableEntity(text)
        if status == 429:
            raise RateLimitExceeded(text)
        if status == 200:
            return __import__("json").loads(text)
        raise ValueError("Access service responded with status code %d." % status)


class NumberGeneratorService(_Base):
    def get_number(self, name):
        return self.get_numbers(name, 1)[0]

    def get_numbers(self, name, count):
        data = self.request("/numgen", params={"name": name, "count": count})
        return data["numbers"]


class FileUploadService(_Base):
    def _persno(self, persno):
        return persno or self.metadata.get("app_user") or ""

    def upload_new_file(self, parent_object_id, filename, stream, persno=None, check_access=True, filesize=None):
        persno = self._persno(persno)
        created = self.request("/file_upload/create", "POST", json={
            "parent_object_id": parent_object_id, "filename": filename,
            "persno": persno, "check_access": check_access})
        fid = created["file_object_id"]
        self.upload_file_content(fid, stream, persno, check_access, filesize, delete_derived_files=False)
        return fid

    def upload_file_content(self, file_object_id, stream, persno=None, check_access=True, filesize=None,
                            delete_derived_files=True):
        import hashlib
        import io
        import random
        import string
        persno = self._persno(persno)
        if isinstance(stream, str):
            stream = stream.encode()
        if isinstance(stream, (bytes, bytearray)):
            stream = io.BytesIO(stream)
        if filesize is None:
            pos = stream.tell()
            stream.seek(0, 2)
            filesize = stream.tell() - pos
            stream.seek(pos)
        lock_id = "".join(random.choice(string.ascii_letters) for _ in range(12))
        presigned = self.request("/file_upload/%s/generate_presigned_url" % file_object_id, "POST", json={
            "filesize": filesize, "check_access": check_access, "persno": persno, "lock_id": lock_id})
        try:
            sha = hashlib.sha256()
            etags = []
            for url in presigned["urls"]:
                chunk = stream.read(presigned["chunksize"])
                sha.update(chunk)
                status, body, hdrs = _http("PUT", url, body=chunk, headers=presigned.get("headers") or {}, timeout=20)
                if status >= 400:
                    raise ValueError("chunk upload failed with status %d: %s" % (status, body[:200]))
                if hdrs.get("ETag"):
                    etags.append(hdrs.get("ETag"))
            done = dict(presigned)
            if etags:
                done["etags"] = etags
            self.request("/file_upload/%s/complete" % file_object_id, "POST", json={
                "filesize": filesize, "check_access": check_access, "persno": persno,
                "presigned_write_urls": done, "lock_id": lock_id, "sha256": sha.hexdigest(),
                "delete_derived_files": delete_derived_files})
        except Exception:
            self.request("/file_upload/%s/abort" % file_object_id, "POST", json={
                "lock_id": lock_id, "persno": persno, "presigned_write_urls": presigned})
            raise


class Service:
    def __init__(self, metadata):
        self.generator = NumberGeneratorService(metadata)
        self.file_upload = FileUploadService(metadata)


class Client(Service):
    """What a Cognite-style handler gets as `client`: not a CogniteClient,
    but the Access Service members CIM's service has."""

    def __init__(self, metadata):
        super().__init__(metadata)
        self.metadata = metadata


# ---- stand-in response and action classes for CIM code ----

class _Model:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def model_dump(self, mode=None):
        return dict(self.__dict__)


class AbortAndShowErrorAction(_Model):
    def __init__(self, message, id=None):
        super().__init__(name="abort_and_show_error", id=id, message=message)


class StartWorkflowAction(_Model):
    def __init__(self, template_id, title, cdb_project_id=None, attachment_ids=None,
                 global_briefcase_object_ids=None, task_configurations=None, id=None):
        super().__init__(name="start_workflow", id=id, template_id=template_id, title=title,
                         cdb_project_id=cdb_project_id, attachment_ids=attachment_ids or [],
                         global_briefcase_object_ids=global_briefcase_object_ids or [],
                         task_configurations=task_configurations or [])


class WorkloadResponse(_Model):
    def __init__(self, actions=None, event_id=None):
        super().__init__(response_type="workload", event_id=event_id, actions=list(actions or []))


class DataResponse(_Model):
    def __init__(self, data=None, event_id=None):
        super().__init__(response_type="data", event_id=event_id, data=data or {})


class ErrorResponse(_Model):
    def __init__(self, message="", error_type="", trace="", event_id=None):
        super().__init__(response_type="error", event_id=event_id, message=message,
                         error_type=error_type, trace=trace)


def install_standin_sdk():
    """Offer `import csfunctions` (a small subset) when the real SDK is absent."""
    try:
        import csfunctions  # noqa: F401
        return
    except ImportError:
        pass
    import types
    mod = types.ModuleType("csfunctions")
    actions = types.ModuleType("csfunctions.actions")
    for cls in (AbortAndShowErrorAction, StartWorkflowAction):
        setattr(actions, cls.__name__, cls)
        setattr(mod, cls.__name__, cls)
    for cls in (WorkloadResponse, DataResponse, ErrorResponse, Service):
        setattr(mod, cls.__name__, cls)
    mod.MetaData = Obj
    mod.actions = actions
    mod.__fx_standin__ = True
    sys.modules["csfunctions"] = mod
    sys.modules["csfunctions.actions"] = actions


def plain(v):
    if hasattr(v, "model_dump"):
        try:
            return plain(v.model_dump(mode="json"))
        except TypeError:
            return plain(v.model_dump())
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def is_action(v):
    return isinstance(v, dict) and v.get("name") in ACTION_NAMES and "response_type" not in v


class ShimFailure(Exception):
    def __init__(self, etype, message, response=None):
        super().__init__(message)
        self.etype = etype
        self.response = response


def normalise_cim(ret, event_id):
    """Turn a CIM handler's return value into the response JSON, like csfunctions."""
    if ret is None:
        return ""
    v = plain(ret)
    if is_action(v):
        v = {"response_type": "workload", "actions": [v]}
    elif isinstance(v, list) and v and all(is_action(a) for a in v):
        v = {"response_type": "workload", "actions": v}
    elif isinstance(v, dict) and v.get("response_type") in ("workload", "data", "error", "empty"):
        pass
    else:
        raise ShimFailure("TypeError", "Function needs to return a Response object or None")
    v["event_id"] = event_id
    if v["response_type"] == "error":
        raise ShimFailure(v.get("error_type") or "Error", v.get("message") or "function returned an error", v)
    for a in v.get("actions") or []:
        if a.get("name") == "abort_and_show_error":
            # Our events are asynchronous: nothing can be vetoed, so make it visible.
            raise ShimFailure("Aborted", a.get("message") or "aborted", v)
    return v


# ---- loading code ----

def load_module(code_dir, rel):
    import importlib.util
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    name = rel[:-3].replace("/", ".") if rel.endswith(".py") else rel.replace("/", ".")
    spec = importlib.util.spec_from_file_location(name, os.path.join(code_dir, rel))
    if spec is None:
        raise ImportError("cannot load %s" % rel)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def resolve_dotted(code_dir, dotted):
    import importlib
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    modname, _, attr = dotted.rpartition(".")
    if not modname:
        raise ImportError("entrypoint %r must be module.function" % dotted)
    mod = importlib.import_module(modname)
    fn = getattr(mod, attr, None)
    if fn is None or not callable(fn):
        raise ImportError("entrypoint %r: %s has no callable %r" % (dotted, modname, attr))
    return fn


def handler_params(fn):
    code = getattr(fn, "__code__", None)
    if code is not None:
        n = code.co_argcount + code.co_kwonlyargcount
        names = list(code.co_varnames[:n])
        if getattr(fn, "__self__", None) is not None and names:
            names = names[1:]
        return names
    import inspect
    return list(inspect.signature(fn).parameters)


def static_check(path):
    """Cognite's folder validation: the last top-level `handle` decides."""
    import ast
    with open(path, "rb") as f:
        src = f.read()
    tree = ast.parse(src, filename=path)
    last = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "handle":
            last = node
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "handle" for t in node.targets):
            last = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "handle":
            last = node
    if last is None:
        raise ShimFailure("ValidationError", "%s has no top-level function named handle" % os.path.basename(path))
    if isinstance(last, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = last.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        bad = [n for n in names if n not in ALLOWED]
        if bad:
            raise ShimFailure("ValidationError", "handle has argument(s) %s; allowed are %s" % (
                ", ".join(bad), ", ".join(ALLOWED)))


def check(req):
    code_dir = req["code_dir"]
    if req["style"] == "cognite":
        path = os.path.join(code_dir, req["entry"])
        static_check(path)
        mod = load_module(code_dir, req["entry"])
        fn = getattr(mod, "handle", None)
        if not callable(fn):
            raise ShimFailure("ValidationError", "handle is not callable")
        bad = [n for n in handler_params(fn) if n not in ALLOWED]
        if bad:
            raise ShimFailure("ValidationError", "handle has argument(s) %s; allowed are %s" % (
                ", ".join(bad), ", ".join(ALLOWED)))
    else:
        install_standin_sdk()
        env = req.get("environment") or {}
        if env.get("main_entrypoint"):
            resolve_dotted(code_dir, env["main_entrypoint"])
        for f in env.get("functions") or []:
            if not req.get("entry") or f["name"] == req["entry"]:
                resolve_dotted(code_dir, f["entrypoint"])
    return {"status": "ok", "response": {"python": sys.version.split()[0]}}


def run(req):
    code_dir = req["code_dir"]
    call = req.get("call") or {}
    md = dict(req.get("metadata") or {})
    if req["style"] == "cognite":
        mod = load_module(code_dir, req["entry"])
        fn = getattr(mod, "handle", None)
        if not callable(fn):
            raise ShimFailure("ValidationError", "handle is not callable")
        info = {"function_id": call.get("function_id"), "call_id": call.get("id"),
                "schedule_id": call.get("schedule_id"), "scheduled_time": call.get("scheduled_time"),
                "event_id": call.get("event_id"), "attempt": call.get("attempt"), "trigger": call.get("trigger")}
        avail = {"data": req.get("data"), "secrets": req.get("secrets") or {}, "function_call_info": info}
        kwargs = {}
        for n in handler_params(fn):
            if n not in ALLOWED:
                raise ShimFailure("ValidationError", "handle has argument %s; allowed are %s" % (n, ", ".join(ALLOWED)))
            kwargs[n] = Client(md) if n == "client" else avail[n]
        ret = fn(**kwargs)
        json.dumps(ret)  # must be JSON-serialisable; raises TypeError otherwise
        return {"status": "ok", "response": ret}
    install_standin_sdk()
    env = req.get("environment") or {}
    event = req.get("event") or {}
    event_id = event.get("event_id")
    if env.get("main_entrypoint"):
        main = resolve_dotted(code_dir, env["main_entrypoint"])
        payload = json.dumps({"metadata": md, "event": event})
        out = main(req["entry"], payload)
        resp = json.loads(out) if out else ""
        if isinstance(resp, dict) and resp.get("response_type") == "error":
            raise ShimFailure(resp.get("error_type") or "Error", resp.get("message") or "error", resp)
        return {"status": "ok", "response": resp}
    entry = None
    for f in env.get("functions") or []:
        if f["name"] == req["entry"]:
            entry = f["entrypoint"]
    if entry is None:
        raise ShimFailure("ValidationError", "environment.yaml has no function named %r" % req["entry"])
    fn = resolve_dotted(code_dir, entry)
    metadata, service = to_obj(md), None
    try:
        sdk = __import__("csfunctions")
        if not getattr(sdk, "__fx_standin__", False):
            from csfunctions.metadata import MetaData
            from csfunctions.service import Service as SDKService
            metadata = MetaData(**md)
            service = SDKService(metadata)
    except Exception:
        metadata = to_obj(md)
    if service is None:
        service = Service(md)
    try:
        ret = fn(metadata, to_obj(event), service)
    except Exception as e:
        err = error_doc(e)
        raise ShimFailure(err["type"], err["message"], {
            "response_type": "error", "event_id": event_id, "message": err["message"],
            "error_type": err["type"], "trace": err["trace"]}) from e
    return {"status": "ok", "response": normalise_cim(ret, event_id)}


def main():
    mode_check = "--check" in sys.argv[1:]
    try:
        req = json.loads(sys.stdin.read())
    except Exception as e:
        write_result({"status": "error", "error": error_doc(e, "ProtocolError")})
        return 0
    try:
        doc = check(req) if mode_check else run(req)
    except ShimFailure as e:
        # The shim's own traceback is noise here: the message says it all.
        doc = {"status": "error", "error": {"type": e.etype, "message": str(e), "trace": ""}}
        if e.response is not None:
            doc["response"] = e.response
            if isinstance(e.response, dict) and e.response.get("trace"):
                doc["error"]["trace"] = e.response["trace"]
    except BaseException as e:  # SystemExit and KeyboardInterrupt are call failures too
        doc = {"status": "error", "error": error_doc(e)}
    sys.stdout.flush()
    sys.stderr.flush()
    write_result(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
