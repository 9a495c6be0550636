"""cloud-init in the target: whether it is installed and which version, its merged
cloud-config (/etc/cloud/cloud.cfg and cloud.cfg.d, as cloud-init merges them), its
masked units, and whether seed 000's version requirement applies to the image.

Read once per run and shared by the cloudinit, growpart and seal checks and their fixes.
"""
import re

from agent.core.model import Message, joined
from agent.core.rootfs import RootError
from agent.facts import elf, osinfo, services
from agent.parsers import yamlplain, yamlsafe

# PyYAML is optional: without it, text outside yamlplain's subset is read line by line for the
# few keys we need. Imported at the first such document (yamlsafe.resolve).
yaml = yamlsafe.UNLOADED

PACKAGE = "cloud-init"
CLOUD_CFG = "/etc/cloud/cloud.cfg"
CLOUD_CFG_D = "/etc/cloud/cloud.cfg.d"
DISABLED_MARKER = "/etc/cloud/cloud-init.disabled"
ALIYUN_CFG = CLOUD_CFG_D + "/99-guestprep-aliyun.cfg"
BINARIES = ("/usr/bin/cloud-init", "/usr/local/bin/cloud-init")
UNITS = ("cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service")
# Seed 000 names these systems (besides every ARM64 image) for the version requirement.
STRICT_IDS = ("almalinux", "rocky", "anolis")


def needs_minimum(ctx):
    """Why seed 000's cloud-init version requirement (and, with it, fw_cfg and SHA-512)
    applies to this target, or '': every ARM64 image, and CentOS Stream, Anolis,
    AlmaLinux and Rocky Linux."""
    if elf.architecture(ctx)["arch"] == "arm64":
        return Message("an ARM64 image")
    os_id = ctx.os.id
    if os_id in STRICT_IDS or osinfo.is_centos_stream(ctx.os):
        return ctx.os.name or os_id
    return ""


# -- cloud-config ------------------------------------------------------------------

def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    return text


def _value(text):
    text = re.sub(r"\s+#.*$", "", text).strip()
    if text.startswith("[") and text.endswith("]"):
        return [_value(part) for part in text[1:-1].split(",") if part.strip()]
    return _scalar(text)


def parse_cloud_config_fallback(text):
    """The top-level keys of a cloud-config, without PyYAML: scalars, one-line
    `[a, b]` lists, block lists (`- item`, `- [item, freq]`) and one level of
    `key: value` mapping. Enough for the keys guestprep reads; never raises."""
    data = {}
    key = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        top = re.match(r"([A-Za-z_][\w-]*)\s*:(.*)$", line)
        if top and not line[0].isspace():
            key, rest = top.group(1), top.group(2).strip()
            data[key] = _value(rest) if rest and not rest.startswith("#") else None
            if data[key] is not None:
                key = None
            continue
        if key is None or not line[0].isspace():
            continue
        body = line.strip()
        if body.startswith("-"):
            if not isinstance(data[key], list):
                data[key] = []
            data[key].append(_value(body[1:]))
            continue
        pair = re.match(r"([\w-]+)\s*:(.*)$", body)
        if pair:
            if not isinstance(data[key], dict):
                data[key] = {}
            data[key][pair.group(1)] = _value(pair.group(2))
    return data


def _parse_cloud_config(text):
    """(dict, problem): the document, or {} and why it could not be read."""
    try:
        # The plain YAML of stock files, exactly as PyYAML reads it, without importing PyYAML.
        data = yamlplain.load(text)
    except yamlplain.Unsupported:
        loaded = yamlsafe.resolve(yaml)
        if loaded is None:
            return parse_cloud_config_fallback(text), ""
        try:
            data = yamlsafe.safe_load(text)
        except yamlsafe.TooComplex as e:
            return {}, "not read: {}".format(e)
        except loaded.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = " at line {}".format(mark.line + 1) if mark is not None else ""
            return {}, "not valid YAML{}: {}".format(where, getattr(e, "problem", None) or e)
    if data is None:
        return {}, ""
    if not isinstance(data, dict):
        return {}, "not a YAML mapping (cloud-init ignores it)"
    return data, ""


def _merge(base, over):
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cloud_config(ctx):
    """The target's CloudConfig, read and parsed once per run (three checks ask for it)."""
    compute = lambda: CloudConfig(ctx.root)  # noqa: E731
    fact = getattr(ctx, "fact", None)
    return fact("cloudinit.config", compute) if fact else compute()


class CloudConfig(object):
    """/etc/cloud/cloud.cfg merged with cloud.cfg.d/*.cfg in name order, as cloud-init does.

    `merged` is the effective configuration, `origin` maps each top-level key to the
    file that set it last, `files` lists the files read, `problems` (path, reason) the
    ones that could not be.
    """

    def __init__(self, root):
        self.merged, self.origin, self.files, self.problems = {}, {}, [], []
        self.exists = root.exists(CLOUD_CFG)
        for path in [CLOUD_CFG] + root.glob(CLOUD_CFG_D + "/*.cfg"):
            if not root.lexists(path):
                continue
            try:
                text = root.read_config(path)
            except RootError as e:
                self.problems.append((path, e.reason))
                continue
            data, problem = _parse_cloud_config(text)
            if problem:
                self.problems.append((path, problem))
                continue
            self.files.append(path)
            self.merged = _merge(self.merged, data)
            for key in data:
                self.origin[key] = path

    def get(self, key, default=None):
        return self.merged.get(key, default)

    def problem_text(self):
        return joined([Message("{path}: {reason}", path=path, reason=reason) for path, reason in self.problems], "; ")


def module_names(entries):
    """Module names of a cloud_*_modules list: 'growpart', ['resizefs', 'always'], 'cc_ssh'."""
    names = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, list) and entry:
            entry = entry[0]
        if isinstance(entry, dict):
            entry = entry.get("name")
        if not isinstance(entry, str):
            continue
        name = entry.strip().replace("-", "_")
        if name.endswith(".py"):
            name = name[:-3]
        names.append(name[3:] if name.startswith("cc_") else name)
    return names


def datasource_names(value):
    if isinstance(value, str):   # cloud-init accepts 'a, b' too
        value = value.split(",")
    return [str(v).strip() for v in value] if isinstance(value, list) else []


def installed_version(ctx):
    """(installed, version or '', where): from the package database, else cloud-init's own files."""
    if ctx.packages.known:
        if PACKAGE in ctx.packages:
            return True, ctx.packages.version(PACKAGE) or "", Message("package {name}", name=PACKAGE)
    for base in ("/usr/lib", "/usr/local/lib", "/usr/lib64"):
        for directory in ctx.root.glob(base + "/python*"):
            for sub in ("site-packages", "dist-packages"):
                path = "{}/{}/cloudinit/version.py".format(directory, sub)
                try:
                    text = ctx.root.read_config_or_none(path)
                except RootError:
                    continue
                match = re.search(r"""__VERSION__\s*=\s*["']([^"']+)""", text or "")
                if match:
                    return True, match.group(1), path
    for path in BINARIES:
        if ctx.root.exists(path):
            return True, "", path
    return False, "", ""


def masked_units(root):
    """/etc/systemd/system links of cloud-init's units that point at /dev/null (masked)."""
    return [services.SYSTEMD_ETC + "/" + unit for unit in UNITS if services.masked(root, unit)]
