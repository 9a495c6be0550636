"""YAML from an untrusted image, loaded with limits (netplan files, cloud-init config).

yaml.safe_load constructs no arbitrary objects, but it still takes any size and any
number of aliases: a "billion laughs" document (each anchor aliased ten times by the
next) is a few hundred bytes that expand to 10**9 nodes as soon as anything walks the
loaded data (a comparison, json.dumps, a copy), and the pure-Python parser takes about
ten seconds a megabyte. So a document is refused, with a reason that says which limit,
when it is larger than MAX_BYTES, uses more than MAX_ALIASES aliases, or would expand to
more than MAX_NODES nodes. Real files are far below all three: netplan and cloud-init
files are a few KiB and rarely use an alias at all.
"""
# PyYAML is optional in the single-file build, and importing it costs more than a whole
# check of most roots (12 ms, its reader and resolver compile their patterns): it is imported
# at the first YAML document, by module(). A module that reads YAML keeps `yaml = UNLOADED`
# and asks resolve(yaml) (tests set the attribute to None to play "not installed").
UNLOADED = object()
_state = {"yaml": UNLOADED, "loader": None, "fast": UNLOADED}

MAX_BYTES = 64 * 1024
MAX_ALIASES = 100
MAX_NODES = 100000


class TooComplex(ValueError):
    """A document over one of the limits; `lineno` is 1-based (1 when not known)."""

    def __init__(self, message, lineno=1):
        ValueError.__init__(self, message)
        self.lineno = lineno


def module():
    """The yaml module, imported now if it was not yet; None when PyYAML is not installed."""
    if _state["yaml"] is UNLOADED:
        try:
            import yaml
        except ImportError:  # pragma: no cover - depends on the host
            yaml = None
        _state["yaml"] = yaml
    return _state["yaml"]


def resolve(value):
    """A module's `yaml` attribute as a module (or None): UNLOADED imports it."""
    return module() if value is UNLOADED else value


def _loader_class():
    if _state["loader"] is None:
        yaml = module()

        class _BoundedLoader(yaml.SafeLoader):
            """SafeLoader that counts aliases while composing and expanded nodes before constructing."""

            def __init__(self, stream):
                yaml.SafeLoader.__init__(self, stream)
                self._aliases = 0

            def compose_node(self, parent, index):
                if self.check_event(yaml.AliasEvent):
                    self._aliases += 1
                    if self._aliases > MAX_ALIASES:
                        mark = self.peek_event().start_mark
                        raise TooComplex("more than {} YAML aliases (an alias bomb?)".format(MAX_ALIASES),
                                         mark.line + 1)
                return yaml.SafeLoader.compose_node(self, parent, index)

            def construct_document(self, node):
                expanded_size(node)
                return yaml.SafeLoader.construct_document(self, node)

        _state["loader"] = _BoundedLoader
    return _state["loader"]


def _fast_loader_class():
    """SafeLoader on libyaml's parser (CSafeLoader) when PyYAML was built with it, else None.

    Parsing a cloud.cfg there is a sixth of the pure-Python parser's time. libyaml composes
    aliases itself, so they are counted afterwards, as references to a node already seen
    (expanded_size), before anything is constructed."""
    if _state["fast"] is UNLOADED:
        yaml = module()
        base = getattr(yaml, "CSafeLoader", None)
        fast = None
        if base is not None:
            class _BoundedCLoader(base):
                def construct_document(self, node):
                    expanded_size(node, count_aliases=True)
                    return base.construct_document(self, node)
            fast = _BoundedCLoader
        _state["fast"] = fast
    return _state["fast"]


def expanded_size(node, count_aliases=False):
    """Nodes of `node` with every alias expanded; raises TooComplex past MAX_NODES, and
    with `count_aliases` past MAX_ALIASES references to a node already composed.

    Composed aliases are the anchored node itself, shared: each distinct node is
    sized once (iteratively, so deep nesting needs no recursion)."""
    sizes, open_ = {}, set()
    references = 0           # child links; in a tree without aliases, one per node but the top
    stack = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if key in sizes:
            continue
        children = _children(current)
        if not children_done:
            if key in open_:
                raise TooComplex("a YAML alias refers to a node that contains it", current.start_mark.line + 1)
            open_.add(key)
            stack.append((current, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_.discard(key)
        references += len(children)
        if count_aliases and references - len(sizes) > MAX_ALIASES:
            raise TooComplex("more than {} YAML aliases (an alias bomb?)".format(MAX_ALIASES),
                             current.start_mark.line + 1)
        total = 1 + sum(sizes[id(child)] for child in children)
        if total > MAX_NODES:
            raise TooComplex("expands to more than {} YAML nodes (an alias bomb?)".format(MAX_NODES),
                             current.start_mark.line + 1)
        sizes[key] = total
    return sizes.get(id(node), 0)


def _children(node):
    yaml = module()
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(text):
    size = len(text.encode("utf-8", "surrogateescape")) if isinstance(text, str) else len(text)
    if size > MAX_BYTES:
        raise TooComplex("{} bytes, more than the {} a YAML file is read up to".format(size, MAX_BYTES))


def safe_load(text):
    """yaml.safe_load within the limits; TooComplex (a ValueError) past one, YAMLError as usual."""
    _check_size(text)
    fast = _fast_loader_class() if _encodable(text) else None
    loader = (fast or _loader_class())(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _encodable(text):
    """libyaml reads UTF-8 bytes; text with undecodable bytes kept as surrogates goes to the
    pure-Python reader, which names the bad character."""
    if not isinstance(text, str):
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def compose(text):
    """yaml.compose (the node tree, with marks) within the size and alias limits."""
    _check_size(text)
    loader = _loader_class()(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()
