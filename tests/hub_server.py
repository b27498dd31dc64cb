"""A small Hugging Face Hub-compatible HTTP server, so tests can drive the real ``huggingface_hub`` client.

The Hub cannot be reached from the test machines, and mocking ``HfApi`` would test nothing of the client. This
server implements the few endpoints that ``huggingface_hub`` 2.x (with ``HF_HUB_DISABLE_XET=1``) requests for
the model round trip of ``transformers`` (``push_to_hub``/``from_pretrained``) and the dataset round trip of
``datasets`` (``push_to_hub``/``load_dataset``). It listens on 127.0.0.1 only. Each commit stores a new
revision (a full ``path -> blob`` snapshot under a fresh sha); blobs are content-addressed files under
``root``, so old revisions stay downloadable, and the state is saved to ``root/state.json``, so a standalone
server restarted on the same root serves the same repos.

Endpoint -> client call that requests it:

=====================================================  =======================================================
``POST /api/repos/create``                             ``create_repo`` (409 with the url when it exists)
``POST /api/validate-yaml``                            ``create_commit`` when it adds a ``README.md``
``GET  /api/whoami-v2``                                ``whoami``
``GET  /api/{type}s/{repo}[/revision/{rev}]``          ``repo_info``/``model_info``/``dataset_info``;
                                                       ``snapshot_download`` resolves the commit sha with it
``POST /api/{type}s/{repo}/preupload/{rev}``           ``preupload_lfs_files``: "regular", except the names
                                                       matching ``HubServer.lfs_patterns`` (Parquet: "lfs")
``POST /[datasets/]{repo}.git/info/lfs/objects/batch`` LFS batch ("basic" transfer) for the "lfs" files ...
``PUT  /lfs-upload/{sha256}``                          ... whose content the client then PUTs here
``POST /api/{type}s/{repo}/commit/{rev}``              ``create_commit``/``upload_folder``/``upload_file``/
                                                       ``delete_file``: NDJSON ``header``, ``file`` (base64),
                                                       ``lfsFile``, ``deletedFile``, ``deletedFolder`` lines
``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]``       ``list_repo_tree`` (``recursive``, ``expand``),
                                                       ``list_repo_files``, ``HfFileSystem.ls``/``glob``
``POST /api/{type}s/{repo}/paths-info/{rev}``          ``get_paths_info``, ``HfFileSystem.info``
``GET  /api/{type}s/{repo}/refs``                      ``list_repo_refs``
``GET  /api/{type}s/{repo}/commits/{rev}``             ``list_repo_commits``
``HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path}``   ``hf_hub_download`` (HEAD: ``X-Repo-Commit``, ``ETag``,
                                                       ``Content-Length``), ``HfFileSystem`` (``Range``: 206)
=====================================================  =======================================================

Errors carry the ``X-Error-Code`` header the client maps to exceptions: ``RepoNotFound`` ->
``RepositoryNotFoundError``, ``RevisionNotFound`` -> ``RevisionNotFoundError``, ``EntryNotFound`` ->
``RemoteEntryNotFoundError``. A ``parentCommit`` that is not the branch head gives 412, as on the Hub.
Not implemented: Xet, multipart LFS, pull requests, branches other than ``main``, single-segment repo ids.

Use it through the ``hub_server`` fixture (``from hub_server import hub_server_fixture  # noqa: F401`` in a
conftest or test module), in code as ``with HubServer() as server: server.run_client(code, hf_home)`` (clients
must run in subprocesses: ``huggingface_hub`` reads ``HF_ENDPOINT`` at import), or standalone:
``python tests/hub_server.py --port 8765 --root /tmp/hub``, then ``HF_ENDPOINT=http://127.0.0.1:8765`` and
``HF_HUB_DISABLE_XET=1`` in the client's environment (see :func:`client_env`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

HOST = "127.0.0.1"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_POINTER = re.compile(rb"version https://git-lfs.github.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n")


def git_blob_sha(data: bytes) -> str:
    """Git's blob id, which is also what the client computes as the "oid" of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    """The small text file git stores in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    """One revision: the whole file tree at that point, and where it came from."""

    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, str]  # path in repo -> blob sha (a full snapshot, not a diff)


@dataclass
class Repo:
    """A model, dataset or space repo: its commits by sha and its branch heads."""

    repo_type: str
    repo_id: str
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)


class HubError(Exception):
    """An HTTP error answer: status, message and the `X-Error-Code` the client turns into an exception."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **body: Any):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = {"error": message, **body}  # extra JSON fields, e.g. the repo "url" with a 409


class HubStore:
    """Repos, their commits and content-addressed blobs under ``root``; all methods are thread-safe."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.blob_dir, self.lfs_dir = self.root / "blobs", self.root / "lfs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.lfs_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        state = self.root / "state.json"
        if state.is_file():
            for raw in json.loads(state.read_text()):
                commits = {sha: Commit(**c) for sha, c in raw.pop("commits").items()}
                self.repos[(raw["repo_type"], raw["repo_id"])] = Repo(**raw, commits=commits)

    def _save(self) -> None:
        tmp = self.root / "state.json.tmp"
        tmp.write_text(json.dumps([asdict(repo) for repo in self.repos.values()]))
        tmp.replace(self.root / "state.json")

    def blob_path(self, sha: str) -> Path:
        return self.blob_dir / sha

    def lfs_path(self, oid: str) -> Path:
        return self.lfs_dir / oid

    def put_lfs_object(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"LFS object content does not match its oid {oid}")
        partial = self.lfs_dir / f"{oid}.{threading.get_ident()}.partial"
        partial.write_bytes(data)
        partial.replace(self.lfs_path(oid))  # atomic: a reader never sees half an object

    def describe(self, blob: str) -> tuple[Path, int, dict[str, Any] | None]:
        """Where a file's content is, its size, and its ``lfs`` info when the blob is an LFS pointer."""
        path = self.blob_path(blob)
        pointer_size = path.stat().st_size
        if pointer_size < 200 and (match := re.fullmatch(LFS_POINTER, path.read_bytes())):
            oid, size = match[1].decode(), int(match[2])
            return self.lfs_path(oid), size, {"oid": oid, "size": size, "pointerSize": pointer_size}
        return path, pointer_size, None

    def _put_blob(self, data: bytes) -> str:
        sha = git_blob_sha(data)
        if not self.blob_path(sha).exists():
            self.blob_path(sha).write_bytes(data)
        return sha

    def create_repo(self, repo_type: str, repo_id: str, initial_files: dict[str, bytes]) -> bool:
        """Create the repo with an initial commit of ``initial_files``; False if it already exists."""
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return False
            self.repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, _now())
            self.commit(repo_type, repo_id, "main", "initial commit", "", initial_files)
            return True

    def get_repo(self, repo_type: str, repo_id: str) -> Repo:
        with self.lock:
            if (repo_type, repo_id) not in self.repos:
                raise HubError(404, f"Repository {repo_id} ({repo_type}) not found", "RepoNotFound")
            return self.repos[(repo_type, repo_id)]

    def resolve(self, repo: Repo, revision: str) -> Commit:
        """A branch name or a full commit sha of this repo -> that commit."""
        with self.lock:
            sha = repo.branches.get(revision, revision)
            if sha not in repo.commits:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return repo.commits[sha]

    def commit(
        self,
        repo_type: str,
        repo_id: str,
        branch: str,
        title: str,
        message: str,
        additions: dict[str, bytes],
        deleted_files: Iterable[str] = (),
        deleted_folders: Iterable[str] = (),
        parent_commit: str | None = None,
    ) -> Commit:
        """Apply the operations to the branch head and store the result as a new revision."""
        with self.lock:
            repo = self.get_repo(repo_type, repo_id)
            head = repo.branches.get(branch)
            if head is None and repo.commits:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if parent_commit is not None and parent_commit != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[head].files) if head else {}
            for path in deleted_files:
                if files.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            for folder in deleted_folders:
                prefix = folder.rstrip("/") + "/"
                files = {p: s for p, s in files.items() if not p.startswith(prefix)}
            for path, data in additions.items():
                files[path] = self._put_blob(data)
            date = _now()
            identity = json.dumps([head, sorted(files.items()), title, message, date, len(repo.commits)])
            sha = hashlib.sha1(identity.encode()).hexdigest()
            repo.commits[sha] = Commit(sha, head, title, message, date, files)
            repo.branches[branch] = sha
            self._save()
            return repo.commits[sha]

    def last_commit(self, repo: Repo, commit: Commit, path: str) -> Commit:
        """The oldest ancestor of ``commit`` from which ``path`` (file or folder) has not changed."""

        def under(files: dict[str, str]) -> dict[str, str]:
            return {p: s for p, s in files.items() if p == path or p.startswith(path + "/")}

        with self.lock:
            while commit.parent is not None and under(repo.commits[commit.parent].files) == under(commit.files):
                commit = repo.commits[commit.parent]
            return commit


def _tree_entry(store: HubStore, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any] | None:
    """The ``/tree`` and ``/paths-info`` JSON of one path (a file or a folder); None if there is none."""
    if path in commit.files:
        blob = commit.files[path]
        _, size, lfs = store.describe(blob)
        entry = {"type": "file", "oid": blob, "size": size, "path": path, **({"lfs": lfs} if lfs else {})}
    else:
        children = sorted((p, s) for p, s in commit.files.items() if p.startswith(path + "/"))
        if not children:
            return None
        entry = {"type": "directory", "oid": hashlib.sha1(repr(children).encode()).hexdigest(), "size": 0}
        entry["path"] = path
    if expand:
        last = store.last_commit(repo, commit, path)
        entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
    return entry


def list_tree(store: HubStore, repo: Repo, commit: Commit, folder: str, recursive: bool, expand: bool) -> list:
    """Entries under ``folder`` ("" is the root): direct children, or every file and folder when recursive."""
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    paths: set[str] = set()
    for file_path in commit.files:
        if not file_path.startswith(prefix):
            continue
        parts = file_path[len(prefix) :].split("/")
        depth = len(parts) if recursive else 1
        paths.update(prefix + "/".join(parts[: i + 1]) for i in range(depth))
    if prefix and not paths:
        raise HubError(404, f"Entry not found: {folder}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
    return [_tree_entry(store, repo, commit, path, expand) for path in sorted(paths)]


def repo_info(store: HubStore, repo: Repo, commit: Commit, with_blobs: bool) -> dict[str, Any]:
    """The ``/api/{type}s/{repo}`` JSON that ``ModelInfo``/``DatasetInfo`` are built from."""
    siblings = []
    for path, blob in sorted(commit.files.items()):
        sibling: dict[str, Any] = {"rfilename": path}
        if with_blobs:  # files_metadata=True
            _, size, lfs = store.describe(blob)
            sibling.update(size=size, blobId=blob)
            if lfs:
                sibling["lfs"] = {"sha256": lfs["oid"], "size": size, "pointerSize": lfs["pointerSize"]}
        siblings.append(sibling)
    info = {"_id": repo.repo_id, "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": commit.sha}
    info.update(lastModified=commit.date, createdAt=repo.created_at, private=False, gated=False, disabled=False)
    info.update(downloads=0, likes=0, tags=[], siblings=siblings)
    if repo.repo_type == "model":
        info["modelId"] = repo.repo_id
    return info


class HubRequestHandler(BaseHTTPRequestHandler):
    """Routes each request to a ``route_*`` method; ``self.server.hub`` is the :class:`HubServer`."""

    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    disable_nagle_algorithm = True  # else headers and body sent apart wait ~40 ms for a delayed ACK
    timeout = 60  # seconds an idle keep-alive connection may block a handler thread

    _API = r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)"
    _REPO = r"^/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+?)"
    ROUTES = [
        ("POST", r"^/api/repos/create$", "create_repo"),
        ("POST", r"^/api/validate-yaml$", "validate_yaml"),
        ("GET", r"^/api/whoami-v2$", "whoami"),
        ("GET", _API + r"(?:/revision/(?P<rev>[^/]+))?$", "info"),
        ("POST", _API + r"/preupload/(?P<rev>[^/]+)$", "preupload"),
        ("POST", _API + r"/commit/(?P<rev>[^/]+)$", "commit"),
        ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", "tree"),
        ("POST", _API + r"/paths-info/(?P<rev>[^/]+)$", "paths_info"),
        ("GET", _API + r"/refs$", "refs"),
        ("GET", _API + r"/commits/(?P<rev>[^/]+)$", "commits"),
        ("POST", _REPO + r"\.git/info/lfs/objects/batch$", "lfs_batch"),
        ("PUT", r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$", "lfs_upload"),
        ("GET", _REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
    ]

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str) -> None:
        # Read the body first, so that an early error answer never desynchronises a keep-alive connection.
        self.body = self._read_body() if method in ("POST", "PUT") else b""
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        status = 500
        try:
            for route_method, pattern, name in self.ROUTES:
                match = re.match(pattern, url.path)
                if match and (route_method == method or (route_method, method) == ("GET", "HEAD")):
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    status = getattr(self, "route_" + name)(**args) or 200
                    break
            else:
                raise HubError(404, f"No route for {method} {url.path}")
        except HubError as error:
            status = error.status
            # Header values must be latin-1: keep the message readable whatever the path's characters.
            headers = {"X-Error-Message": error.message.encode("ascii", "replace").decode(), **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send_json(error.body, error.status, headers)
        except Exception as error:  # report it to the client instead of dropping the connection
            self._send_json({"error": f"{type(error).__name__}: {error}"}, 500)
        finally:
            self.server.hub.requests.append((method, self.path, status))

    def _send_json(self, payload: Any, status: int = 200, headers: dict | None = None) -> int:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def _json_body(self) -> Any:
        return json.loads(self.body or b"{}")

    def _repo_at(self, type: str | None, repo: str, rev: str = "main") -> tuple[Repo, Commit]:
        store = self.server.hub.store
        hub_repo = store.get_repo(REPO_TYPES[type or "models"], repo)
        return hub_repo, store.resolve(hub_repo, rev)

    def _flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[-1].lower() in ("1", "true")

    def route_create_repo(self) -> int:
        payload = self._json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"{self.server.hub.username}/{repo_id}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.server.hub.url}/{prefix}{repo_id}"
        # Like the Hub, start each repo with a .gitattributes (it makes `main` resolvable at once).
        gitattributes = "".join(
            f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in self.server.hub.lfs_patterns
        )
        if not self.server.hub.store.create_repo(repo_type, repo_id, {".gitattributes": gitattributes.encode()}):
            # The Hub's 409 also carries the url: `create_repo(exist_ok=True)` reads it from the error body.
            raise HubError(409, f"You already created this {repo_type} repo", url=url)
        return self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def route_validate_yaml(self) -> int:
        return self._send_json({"errors": [], "warnings": []})

    def route_whoami(self) -> int:
        name = self.server.hub.username
        return self._send_json({"type": "user", "name": name, "fullname": name, "orgs": [], "auth": {}})

    def route_info(self, type: str, repo: str, rev: str = "main") -> int:
        hub_repo, commit = self._repo_at(type, repo, rev)
        return self._send_json(repo_info(self.server.hub.store, hub_repo, commit, self._flag("blobs")))

    def route_preupload(self, type: str, repo: str, rev: str) -> int:
        _, commit = self._repo_at(type, repo, rev)
        files = []
        for file in self._json_body()["files"]:
            path = file["path"]
            is_lfs = any(fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in self.server.hub.lfs_patterns)
            # The "oid" of the current version (sha256 if LFS) lets the client skip files that did not change.
            oid = None
            if path in commit.files:
                _, _, lfs = self.server.hub.store.describe(commit.files[path])
                oid = lfs["oid"] if lfs else commit.files[path]
            mode = "lfs" if is_lfs else "regular"
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return self._send_json({"files": files, "commitOid": commit.sha})

    def route_lfs_batch(self, repo: str, type: str | None = None) -> int:
        self._repo_at(type, repo)
        objects = []
        for obj in self._json_body()["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.server.hub.store.lfs_path(obj["oid"]).exists():  # no "actions": already stored
                answer["actions"] = {"upload": {"href": f"{self.server.hub.url}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        return self._send_json({"transfer": "basic", "objects": objects})

    def route_lfs_upload(self, oid: str) -> int:
        self.server.hub.store.put_lfs_object(oid, self.body)
        return self._send_json({})

    def route_commit(self, type: str, repo: str, rev: str) -> int:
        header: dict[str, Any] = {}
        additions: dict[str, bytes] = {}
        deleted_files: list[str] = []
        deleted_folders: list[str] = []
        for line in self.body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                content = value["content"]
                raw = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                additions[value["path"]] = raw
            elif key == "deletedFile":
                deleted_files.append(value["path"])
            elif key == "deletedFolder":
                deleted_folders.append(value["path"])
            elif key == "lfsFile":  # content came before through the LFS batch endpoint and a PUT
                if not self.server.hub.store.lfs_path(value["oid"]).exists():
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was not uploaded")
                additions[value["path"]] = lfs_pointer(value["oid"], value["size"])
            else:
                raise HubError(400, f"Commit operation '{key}' is not supported by this test server")
        title, message, parent = header.get("summary", ""), header.get("description", ""), header.get("parentCommit")
        store, repo_type = self.server.hub.store, REPO_TYPES[type]
        commit = store.commit(repo_type, repo, rev, title, message, additions, deleted_files, deleted_folders, parent)
        prefix = "" if repo_type == "model" else f"{type}/"
        url = f"{self.server.hub.url}/{prefix}{repo}/commit/{commit.sha}"
        return self._send_json({"success": True, "commitOid": commit.sha, "commitUrl": url, "pullRequestUrl": None})

    def route_tree(self, type: str, repo: str, rev: str, path: str = "") -> int:
        hub_repo, commit = self._repo_at(type, repo, rev)
        entries = list_tree(
            self.server.hub.store, hub_repo, commit, path, self._flag("recursive"), self._flag("expand")
        )
        return self._send_json(entries)

    def route_paths_info(self, type: str, repo: str, rev: str) -> int:
        hub_repo, commit = self._repo_at(type, repo, rev)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            form = {key: value if isinstance(value, list) else [value] for key, value in self._json_body().items()}
        else:  # the client sends a form: paths=a&paths=b&expand=false
            form = parse_qs(self.body.decode())
        expand = str(form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        entries = [
            _tree_entry(self.server.hub.store, hub_repo, commit, p.strip("/"), expand) for p in form.get("paths", [])
        ]
        return self._send_json([entry for entry in entries if entry is not None])

    def route_refs(self, type: str, repo: str) -> int:
        hub_repo, _ = self._repo_at(type, repo)
        branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s} for n, s in hub_repo.branches.items()]
        return self._send_json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def route_commits(self, type: str, repo: str, rev: str) -> int:
        hub_repo, commit = self._repo_at(type, repo, rev)
        history = []
        while commit is not None:
            history.append({"id": commit.sha, "title": commit.title, "message": commit.message, "date": commit.date})
            history[-1]["authors"] = [{"user": self.server.hub.username}]
            commit = hub_repo.commits.get(commit.parent) if commit.parent else None
        return self._send_json(history)

    def route_resolve(self, repo: str, rev: str, path: str, type: str | None = None) -> int:
        _, commit = self._repo_at(type, repo, rev)
        blob = commit.files.get(path)
        if blob is None:
            # X-Repo-Commit lets the client cache that the file does not exist at this commit.
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        content_path, size, lfs = self.server.hub.store.describe(blob)
        start, end, status = 0, size - 1, 200
        if match := re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "")):
            if match[1]:
                start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
            else:  # suffix range: the last N bytes
                start = max(size - int(match[2] or 0), 0)
            if start >= size or end < start:
                raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", commit.sha)
        # Regular files are tagged with their git blob id, LFS files with their sha256 (as the Hub does).
        self.send_header("ETag", f'"{lfs["oid"] if lfs else blob}"')
        if lfs:
            self.send_header("X-Linked-Etag", f'"{lfs["oid"]}"')
            self.send_header("X-Linked-Size", str(size))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "GET":
            with open(content_path, "rb") as file:
                file.seek(start)
                self.wfile.write(file.read(end - start + 1))
        return status


def client_env(url: str, hf_home: str | Path) -> dict[str, str]:
    """Environment for a client subprocess: the server at ``url``, no Xet, a private ``HF_HOME``, a dummy
    token, no telemetry, progress bars or proxy; other ``HF_*`` settings (like offline mode) are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env = {k: v for k, v in env.items() if "proxy" not in k.lower()}
    env.update(HF_ENDPOINT=url, HF_HOME=str(hf_home), HF_TOKEN="hf_dummy_test_token", NO_PROXY=HOST)
    env.update(HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.update(HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    return env


class HubServer:
    """The Hub stand-in: ``start()``/``stop()`` or a ``with`` block; ``HF_ENDPOINT`` is set to ``.url``.

    ``root`` holds blobs and state (a fresh temporary folder, removed at ``stop()``, when omitted); ``port=0``
    picks a free port. Preupload answers "regular" for every file except those whose name matches
    ``lfs_patterns``: ``datasets`` deletes each Parquet shard right after preuploading it, so shards must go
    through the LFS endpoints. ``requests`` records ``(method, path, status)`` of each request, for debugging.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        port: int = 0,
        username: str = "test-user",
        lfs_patterns: tuple[str, ...] = ("*.parquet",),
        verbose: bool = False,
    ):
        self._tmp = tempfile.TemporaryDirectory(prefix="hub-server-") if root is None else None
        self.store = HubStore(self._tmp.name if self._tmp else root)
        self.port, self.username, self.lfs_patterns, self.verbose = port, username, lfs_patterns, verbose
        self.requests: list[tuple[str, str, int]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> HubServer:
        self._httpd = ThreadingHTTPServer((HOST, self.port), HubRequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self
        self.port = self._httpd.server_address[1]
        serve, fast_stop = self._httpd.serve_forever, {"poll_interval": 0.05}
        self._thread = threading.Thread(target=serve, kwargs=fast_stop, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_client(self, code: str, hf_home: str | Path) -> subprocess.Popen:
        """Start ``code`` in a fresh Python process pointed at this server; see :func:`finish_client`.

        After ``code`` succeeds the process leaves by ``os._exit``: the interpreter's teardown alone takes ~3 s
        once torch and transformers are imported. Files the code wrote must be closed (``with``, ``np.save``).
        """
        code += "\nimport os, sys\nsys.stdout.flush()\nsys.stderr.flush()\nos._exit(0)\n"
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return subprocess.Popen([sys.executable, "-c", code], env=client_env(self.url, hf_home), text=True, **pipes)

    def run_client(self, code: str, hf_home: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``code`` in a fresh Python process pointed at this server; raise with its output on failure."""
        return finish_client(self.start_client(code, hf_home), timeout=timeout)


def finish_client(process: subprocess.Popen, input: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    """Send ``input`` to a started client, wait at most ``timeout`` s (then kill it) and raise if it failed."""
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"client still running after {timeout} s\n{stdout}\n{stderr[-6000:]}") from None
    if process.returncode != 0:
        raise AssertionError(f"client exited {process.returncode}\n{stdout}\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


if "pytest" in sys.modules:  # the fixture exists under pytest; the standalone server does not import pytest
    import pytest

    @pytest.fixture(name="hub_server")
    def hub_server_fixture(tmp_path: Path):
        """A running :class:`HubServer` with its own store under ``tmp_path`` (``.url``, ``.run_client``)."""
        with HubServer(tmp_path / "hub") as server:
            yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a small Hugging Face Hub-compatible API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--root", default=None, help="folder for blobs and state (default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    with HubServer(args.root, args.port, verbose=args.verbose) as server:
        print(f"Serving on {server.url}; set HF_ENDPOINT={server.url} HF_HUB_DISABLE_XET=1", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
