"""Boot configuration and kernel command lines, for every loader format and every target.

The one reader of: GRUB 2 grub.cfg (BIOS /boot/grub and /boot/grub2, EFI under
/boot/efi/EFI and /efi/EFI), GRUB legacy menu.lst/grub.conf, Boot Loader Spec entries
(/boot/loader/entries, with RHEL 8's `$kernelopts` from grubenv), grubenv itself,
/etc/default/grub, /etc/kernel/cmdline and, on the running system, /proc/cmdline. Also
which kernel the boot loader starts by default, which tool regenerates grub.cfg, and the
boot mode (BIOS, UEFI) the image can start with. Each fact is cached on the context
(`ctx.fact(name, compute)`), so every check reads the same answer once per run.
"""
from agent.core.model import Message
from agent.core.rootfs import RootError
from agent.facts import disks, elf
from agent.facts.kernels import installed_kernels, is_rescue, kernel_version_of
from agent.facts.versions import version_key
from agent.parsers import bootcfg, keyvalue

DEFAULT_GRUB = "/etc/default/grub"
KERNEL_CMDLINE = "/etc/kernel/cmdline"
GRUB2_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
LEGACY_CFGS = ("/boot/grub/grub.conf", "/boot/grub/menu.lst", "/boot/grub/menu.list")
BLS_DIR = "/boot/loader/entries"
GRUBENVS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")


class BootConfig(object):
    """One boot configuration file: kind 'grub2', 'legacy' or 'bls', its text and entries."""

    def __init__(self, path, kind, text=None, entries=(), default="", problem=""):
        self.path = path
        self.kind = kind
        self.text = text
        self.entries = list(entries)
        self.default = default
        self.problem = problem


def _efi_grub_cfgs(ctx):
    found = []
    for esp in ("/boot/efi/EFI", "/efi/EFI"):
        for vendor in ctx.root.listdir(esp):
            path = "{}/{}/grub.cfg".format(esp, vendor)
            if ctx.root.isfile(path):
                found.append(path)
    return found


def boot_configs(ctx):
    """Every GRUB 2, GRUB legacy and BLS file of the target (a file behind two names once)."""
    def compute():
        configs, seen = [], set()
        candidates = ([(p, "grub2") for p in GRUB2_CFGS + tuple(_efi_grub_cfgs(ctx))]
                      + [(p, "legacy") for p in LEGACY_CFGS]
                      + [(p, "bls") for p in ctx.root.glob(BLS_DIR + "/*.conf")])
        for path, kind in candidates:
            if not ctx.root.lexists(path):
                continue
            try:
                real = ctx.root.resolve(path)
            except RootError as e:
                configs.append(BootConfig(path, kind, problem=str(e.reason)))
                continue
            if real in seen:
                continue
            seen.add(real)
            try:
                text = ctx.root.read_config(path)
            except RootError as e:
                configs.append(BootConfig(path, kind, problem=e.reason))
                continue
            if kind == "grub2":
                configs.append(BootConfig(path, kind, text, bootcfg.grub2_entries(text)))
            elif kind == "legacy":
                default, entries = bootcfg.grub_legacy_entries(text)
                configs.append(BootConfig(path, kind, text, entries, default))
            else:
                configs.append(BootConfig(path, kind, text, [_bls_entry(path, text)]))
        return configs
    return ctx.fact("boot_configs", compute)


def _bls_entry(path, text):
    fields = bootcfg.bls_fields(text)
    kernel_lines = bootcfg.bls_entry(text)
    title = (fields.get("title") or [(0, "")])[0][1]
    initrds = tuple((lineno, word) for lineno, value in fields.get("initrd", ())
                    for word in value.split())
    kernel = kernel_lines[0] if kernel_lines else None
    entry_id = path.rsplit("/", 1)[-1][:-len(".conf")]
    return bootcfg.MenuEntry(kernel.lineno if kernel else 1, title, entry_id, (title,), kernel, initrds)


def grubenv(ctx):
    """(path, {name: value}) of the first grubenv of GRUBENVS that can be read, else (None, {})."""
    def compute():
        for path in GRUBENVS:
            try:
                text = ctx.root.read_config_or_none(path)
            except RootError:
                continue
            if text is not None:
                values = {}
                for line in text.splitlines():
                    if "=" in line and not line.startswith("#"):
                        key, _, value = line.partition("=")
                        values[key] = value
                return path, values
        return None, {}
    return ctx.fact("grubenv", compute)


def _grub_default(ctx):
    try:
        text = ctx.root.read_config_or_none(DEFAULT_GRUB)
    except RootError:
        text = None
    if text is None:
        return "0"
    values, _problems = keyvalue.parse(text)
    return (keyvalue.get(values, "GRUB_DEFAULT") or "0").strip()


def _pick(entries, wanted):
    """The entry GRUB boots for a default of `wanted`: index (top level), title, id or a>b path."""
    if not entries:
        return None
    if wanted.isdigit():
        top = [e for e in entries if len(e.path) == 1]
        index = int(wanted)
        return top[index] if index < len(top) else None
    parts = tuple(wanted.split(">"))
    for entry in entries:
        if wanted in (entry.title, entry.entry_id) or entry.path == parts:
            return entry
        if len(parts) > 1 and parts[-1] in (entry.title, entry.entry_id):
            return entry
    return None


def default_kernel(ctx):
    """{'version', 'how', 'entry_source'}: the kernel the boot loader starts by default."""
    def compute():
        configs = [c for c in boot_configs(ctx) if not c.problem]
        env_path, env = grubenv(ctx)
        grub_default = _grub_default(ctx)
        bls = [c for c in configs if c.kind == "bls" and c.entries[0].kernel is not None]
        if bls:
            entries = sorted((c.entries[0] for c in bls),
                             key=lambda e: version_key(kernel_version_of(e.kernel.kernel) or ""), reverse=True)
            saved = env.get("saved_entry", "")
            chosen = None
            if saved and grub_default == "saved":
                chosen = next((e for e in entries if e.entry_id == saved), None)
            how = Message("BLS entry {entry} (saved_entry in {path})", entry=chosen.entry_id, path=env_path) \
                if chosen else ""
            if chosen is None:
                chosen = next((e for e in entries if not is_rescue(kernel_version_of(e.kernel.kernel))), entries[0])
                how = Message("the newest Boot Loader Spec entry ({entry}.conf)", entry=chosen.entry_id)
            return {"version": kernel_version_of(chosen.kernel.kernel), "how": how}
        for config in configs:
            if config.kind != "grub2" or not config.entries:
                continue
            wanted = grub_default
            source = "GRUB_DEFAULT={}".format(grub_default)
            if grub_default == "saved":
                wanted = env.get("saved_entry", "") or "0"
                source = Message("saved_entry={entry} in {path}", entry=wanted, path=env_path) \
                    if env.get("saved_entry") else Message("GRUB_DEFAULT=saved, nothing saved")
            entry = _pick(config.entries, wanted) or config.entries[0]
            if entry.kernel is not None and kernel_version_of(entry.kernel.kernel):
                return {"version": kernel_version_of(entry.kernel.kernel),
                        "how": Message("menu entry '{title}' of {path} ({source})", title=entry.title,
                                       path=config.path, source=source)}
        for config in configs:
            if config.kind != "legacy" or not config.entries:
                continue
            entry = _pick(config.entries, config.default if config.default.isdigit() else "0")
            entry = entry or config.entries[0]
            if entry.kernel is not None and kernel_version_of(entry.kernel.kernel):
                return {"version": kernel_version_of(entry.kernel.kernel),
                        "how": Message("entry '{title}' of {path} (default={default})", title=entry.title,
                                       path=config.path, default=config.default or "0")}
        kernels = installed_kernels(ctx)
        if kernels:
            return {"version": kernels[-1], "how": Message("the newest kernel in /boot (no boot menu entry found)")}
        return {"version": None, "how": Message("no kernel found in /boot")}
    return ctx.fact("default_kernel", compute)


# -- boot mode ---------------------------------------------------------------------------

EFI_PACKAGES = ("grub-efi-amd64", "grub-efi-amd64-signed", "grub-efi-amd64-bin", "grub-efi-arm64",
                "grub-efi-arm64-signed", "grub-efi-ia32", "grub2-efi-x64", "grub2-efi-aa64",
                "grub2-efi-ia32", "grub2-x86_64-efi", "grub2-arm64-efi", "shim", "shim-x64",
                "shim-aa64", "shim-signed", "systemd-boot")
BIOS_PACKAGES = ("grub-pc", "grub2-pc", "grub2-i386-pc", "grub", "grub-legacy")
BIOS_DIRS = ("/boot/grub/i386-pc", "/boot/grub2/i386-pc")


def esp_entry(ctx):
    for entry in disks.fstab_entries(ctx):
        if (entry.mountpoint.rstrip("/") in ("/boot/efi", "/efi")) and entry.fstype in ("vfat", "msdos", "fat"):
            return entry
    return None


def boot_mode(ctx):
    """What the image can boot with and the BootMode to pick on import.

    {'mode': 'BIOS'|'UEFI'|'UEFI-Preferred'|None, 'efi', 'bios' (bools), 'booted' ('UEFI',
    'BIOS' or None offline), 'evidence' [strings], 'problems' [strings]}.
    """
    def compute():
        evidence, problems = [], []
        booted = None
        if ctx.live is not None:
            booted = "UEFI" if ctx.root.isdir("/sys/firmware/efi") else "BIOS"
            evidence.append(Message("booted via UEFI now (/sys/firmware/efi present)") if booted == "UEFI"
                            else Message("booted via BIOS now (/sys/firmware/efi absent)"))
        esp = esp_entry(ctx)
        pk = ctx.packages
        efi_pkgs = [p for p in EFI_PACKAGES if p in pk]
        bios_pkgs = [p for p in BIOS_PACKAGES if p in pk]
        bios_dirs = [d for d in BIOS_DIRS if ctx.root.isdir(d)]
        legacy = [c.path for c in boot_configs(ctx) if c.kind == "legacy" and not c.problem]
        if esp is not None:
            evidence.append(Message("an EFI system partition in /etc/fstab ({spec} on {mountpoint})", spec=esp.spec,
                                    mountpoint=esp.mountpoint))
        if efi_pkgs:
            evidence.append(Message("EFI boot packages: {packages}", packages=", ".join(efi_pkgs)))
        if bios_pkgs or bios_dirs:
            evidence.append(Message("BIOS GRUB: {found}", found=", ".join(bios_pkgs + bios_dirs)))
        if legacy:
            evidence.append(Message("GRUB legacy ({paths}), which boots with BIOS only", paths=", ".join(legacy)))
        efi = booted == "UEFI" or (esp is not None and bool(efi_pkgs))
        bios = booted == "BIOS" or bool(bios_dirs) or bool(legacy) or bool(bios_pkgs)
        if esp is None and efi_pkgs and booted != "UEFI":
            problems.append(Message("EFI packages are installed but /etc/fstab mounts no EFI system partition"))
        arch = elf.architecture(ctx)["arch"]
        if arch == "arm64":
            mode = "UEFI"
            if not efi:
                problems.append(Message("arm64 instances boot with UEFI only, and no UEFI boot loader was found"))
        elif efi and bios:
            mode = "UEFI-Preferred"
        elif efi:
            mode = "UEFI"
        elif bios:
            mode = "BIOS"
        else:
            mode = None
        disk = disks.system_disk(ctx)
        if (mode in ("BIOS", "UEFI-Preferred") and disk.get("known") and disk.get("table") == "gpt"
                and disks.BIOS_BOOT_GUID not in disk.get("part_types", [])):
            problems.append(Message("{disk} has a GPT partition table without a BIOS boot partition, so GRUB "
                                    "cannot boot it with BIOS", disk=disk["disk"]))
            if efi:
                mode = "UEFI"
        return {"mode": mode, "efi": efi, "bios": bios, "booted": booted, "evidence": evidence,
                "problems": problems}
    return ctx.fact("boot_mode", compute)


# -- kernel command lines --------------------------------------------------------------

class Cmdline(object):
    """One place a kernel command line comes from: `kind` is 'default_grub', 'grub2',
    'legacy', 'bls', 'kernel_cmdline' or 'running'; `args` its words."""

    __slots__ = ("path", "kind", "args")

    def __init__(self, path, kind, args):
        self.path = path
        self.kind = kind
        self.args = list(args)


def _kernelopts(ctx):
    """RHEL 8's `kernelopts` of grubenv, the words BLS entries put where `$kernelopts` is."""
    _path, env = grubenv(ctx)
    return bootcfg.split_words(env["kernelopts"], comments=False) if "kernelopts" in env else []


def kernel_cmdlines(ctx):
    """([Cmdline], [problems]) for every place the next boot takes a kernel command line from,
    and on the running system the one it booted with (kind 'running', /proc/cmdline).

    /etc/default/grub (GRUB_CMDLINE_LINUX, then GRUB_CMDLINE_LINUX_DEFAULT), the kernel
    lines of every grub.cfg (BIOS and EFI), GRUB legacy file and BLS entry (`$kernelopts`
    expanded from grubenv), then /etc/kernel/cmdline. A file that cannot be read is a
    problem ('path: why'), not an exception: the others still count.
    """
    def compute():
        sources, problems = [], []

        def read(path):
            try:
                return ctx.root.read_config_or_none(path)
            except RootError as e:
                problems.append(str(e))
                return None

        text = read(DEFAULT_GRUB)
        if text is not None:
            values = bootcfg.default_grub(text)
            sources.append(Cmdline(DEFAULT_GRUB, "default_grub", list(values["GRUB_CMDLINE_LINUX"])
                                   + list(values["GRUB_CMDLINE_LINUX_DEFAULT"])))
        kernelopts = None
        for config in boot_configs(ctx):
            if config.problem:
                problems.append("{}: {}".format(config.path, config.problem))
                continue
            parse = {"grub2": bootcfg.grub2_cfg, "legacy": bootcfg.grub_legacy,
                     "bls": bootcfg.bls_entry}[config.kind]
            # An EFI grub.cfg that only forwards to /boot/grub2/grub.cfg (RHEL 9) has no linux line.
            for line in parse(config.text):
                args = list(line.args)
                if config.kind == "bls" and "$kernelopts" in args:
                    if kernelopts is None:
                        kernelopts = _kernelopts(ctx)
                    index = args.index("$kernelopts")
                    args[index:index + 1] = kernelopts
                sources.append(Cmdline(config.path, config.kind, args))
        text = read(KERNEL_CMDLINE)
        if text is not None:
            sources.append(Cmdline(KERNEL_CMDLINE, "kernel_cmdline", text.split()))
        if ctx.live is not None:
            sources.append(Cmdline("/proc/cmdline", "running", ctx.live.kernel_cmdline()))
        return sources, problems
    return ctx.fact("kernel_cmdlines", compute)


# -- the tools that regenerate grub.cfg --------------------------------------------------

GRUB_TOOLS = {
    "update-grub": ("/usr/sbin/update-grub", "/sbin/update-grub"),
    "grub2-mkconfig": ("/usr/sbin/grub2-mkconfig", "/sbin/grub2-mkconfig"),
    "grub-mkconfig": ("/usr/sbin/grub-mkconfig", "/sbin/grub-mkconfig"),
    "grubby": ("/usr/sbin/grubby", "/sbin/grubby"),
}


def grub_tool(ctx, name):
    """The target's path of the GRUB tool `name` (a GRUB_TOOLS key), or None."""
    return next((p for p in GRUB_TOOLS[name] if ctx.root.exists(p)), None)


def grub_tools(ctx):
    """The GRUB configuration tools the target has, by name."""
    return set(name for name in GRUB_TOOLS if grub_tool(ctx, name))


def _grub2_target(configs):
    # RHEL 7/8 on UEFI read the grub.cfg on the ESP; RHEL 9 and BLS systems /boot/grub2.
    target = "/boot/grub2/grub.cfg"
    for c in configs:
        if c.kind == "grub2" and c.path.startswith(("/boot/efi/EFI/", "/efi/EFI/")) and c.entries:
            target = c.path
    return target


def regen_command(ctx):
    """argv that regenerates the GRUB 2 configuration with a tool the target has, or None.

    When the target has none of them (a root whose boot loader is not installed yet), the
    distribution's usual tool is named.
    """
    configs = boot_configs(ctx)
    tools = grub_tools(ctx)
    grub2 = [c for c in configs if c.kind == "grub2"]
    redhat = any(c.kind == "bls" for c in configs) or ctx.os.family in ("rhel", "suse")
    if tools & {"update-grub", "grub2-mkconfig", "grub-mkconfig"}:
        if "update-grub" in tools and not redhat:
            return ("update-grub",)
        tool = "grub2-mkconfig" if "grub2-mkconfig" in tools else "grub-mkconfig"
        if redhat:
            return (tool, "-o", _grub2_target(configs))
        return (tool, "-o", grub2[0].path if grub2 else "/boot/grub/grub.cfg")
    if redhat:
        return ("grub2-mkconfig", "-o", _grub2_target(configs))
    if ctx.os.family == "debian":
        return ("update-grub",)
    if grub2:
        tool = "grub2-mkconfig" if grub2[0].path.startswith("/boot/grub2/") else "grub-mkconfig"
        return (tool, "-o", grub2[0].path)
    return None


def generated_grub_cfgs(ctx):
    """The grub.cfg files grub-mkconfig writes: the BIOS ones, and each EFI one that has menu
    entries (RHEL 9's EFI grub.cfg only forwards to /boot/grub2/grub.cfg: regenerating
    or editing it would break that)."""
    return [c.path for c in boot_configs(ctx)
            if c.kind == "grub2" and not c.problem
            and (c.path in GRUB2_CFGS or bootcfg.grub2_cfg(c.text))]


def regenerate_every_cfg(ctx):
    """[(argv, files it rewrites)] that regenerate every generated grub.cfg from
    /etc/default/grub with the target's own tool: update-grub where it exists (Debian,
    Ubuntu), else grub2-mkconfig/grub-mkconfig -o for each file; [] without either."""
    if grub_tool(ctx, "update-grub") and ctx.root.isfile("/boot/grub/grub.cfg"):
        return [(("update-grub",), ("/boot/grub/grub.cfg",))]
    mkconfig = grub_tool(ctx, "grub2-mkconfig") or grub_tool(ctx, "grub-mkconfig")
    if mkconfig:
        tool = mkconfig.rsplit("/", 1)[1]
        return [((tool, "-o", path), (path,)) for path in generated_grub_cfgs(ctx)]
    return []


def net_ifnames_off(ctx):
    """True when the image boots with net.ifnames=0 (on any kernel command line the next boot
    reads, or the running one), so its first NIC is eth0 on ECS too."""
    return any(bootcfg.arg_value(s.args, "net.ifnames") == "0" for s in kernel_cmdlines(ctx)[0])
