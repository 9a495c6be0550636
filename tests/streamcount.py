"""A read-only runner whose host decompressors count what the initramfs reader takes from them."""
from agent.core import runner as runner_mod
from agent.core.runner import ReadOnlyRunner


class CountingRunner(ReadOnlyRunner):
    """`streams`: every Stream started; `taken` and `dropped`: sizes of each read1 and discard."""

    def __init__(self, root):
        ReadOnlyRunner.__init__(self, root)
        self.streams, self.taken, self.dropped = [], [], []

    def host_stream(self, argv, stdin_fd):
        stream = runner_mod.host_stream(argv, stdin_fd)
        self.streams.append(stream)
        read, discard = stream.read1, stream.discard

        def counted(n):
            data = read(n)
            self.taken.append(len(data))
            return data

        def discarded(n):
            count = discard(n)
            self.dropped.append(count)
            return count
        stream.read1, stream.discard = counted, discarded
        return stream

    def streamed(self):
        """Bytes of decompressed output read or dropped."""
        return sum(self.taken) + sum(self.dropped)
