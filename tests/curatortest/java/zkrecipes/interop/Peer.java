package zkrecipes.interop;

import com.example.InstanceDetails;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.zookeeper.CreateMode;
import org.apache.curator.framework.recipes.locks.Revoker;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.utils.CloseableUtils;
import org.apache.curator.utils.ZKPaths;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceInstanceBuilder;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.UriSpec;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.curator.x.discovery.details.ServiceCacheListener;
import org.apache.zookeeper.data.Stat;

/**
 * A Curator 5.4 peer for Go interop tests, driven by a line protocol.
 *
 * <p>One command per line on stdin. A command answers with zero or more data lines (JSON values,
 * so they never start with a letter of OK/ERR/EVENT) and then exactly one terminator line:
 * "OK" or "ERR message". Lines starting with "EVENT " are asynchronous and may appear at any
 * time, also between the data lines of an answer. The process exits on "close" or at stdin EOF.
 *
 * <p>Everything Curator logs goes to stderr; stdout carries only the protocol.
 */
public final class Peer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final PrintStream out;
    private final Object outLock = new Object();

    private CuratorFramework client;
    private String connectString;
    private int sessionTimeoutMs;
    private String namespace;
    private final Map<String, LeaderLatch> latches = new ConcurrentHashMap<>();
    private ServiceDiscovery<InstanceDetails> discovery;
    private final Map<String, ServiceInstance<InstanceDetails>> registered = new ConcurrentHashMap<>();
    private final Map<String, ServiceCache<InstanceDetails>> caches = new ConcurrentHashMap<>();
    private final Nodes nodes = new Nodes(this::client, this::emit, this::event);
    private final Caches curatorCaches = new Caches(this::client, this::extra, this::emit, this::event);
    private final Map<String, MutexHandle> mutexes = new ConcurrentHashMap<>();
    private final Map<String, SemHandle> sems = new ConcurrentHashMap<>();
    private final Map<String, SelectorHandle> selectors = new ConcurrentHashMap<>();

    /**
     * A LeaderSelector with autoRequeue whose takeLeadership emits "selector <name> leader",
     * waits until selector-relinquish (or an interruption: close, or the adapter's
     * cancellation on SUSPENDED/LOST) and then emits "selector <name> notLeader".
     */
    private final class SelectorHandle {
        final LeaderSelector selector;
        final java.util.concurrent.Semaphore relinquish = new java.util.concurrent.Semaphore(0);

        SelectorHandle(String name, String path, String id) {
            selector = new LeaderSelector(client(), path, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework c) throws Exception {
                    event("selector " + name + " leader");
                    try {
                        relinquish.acquire();
                    } finally {
                        event("selector " + name + " notLeader");
                    }
                }
            });
            if (!id.isEmpty()) {
                selector.setId(id);
            }
            selector.autoRequeue();
        }
    }

    /** An InterProcessSemaphoreV2 participant with a thread of its own and at most one lease. */
    private final class SemHandle {
        final String name;
        final InterProcessSemaphoreV2 sem;
        final SharedCount count; // null for a local count
        final ExecutorService thread;
        volatile Lease lease;

        SemHandle(String name, String path, String max) throws Exception {
            this.name = name;
            if (max.startsWith("count:")) {
                count = new SharedCount(client(), max.substring("count:".length()), 0);
                count.start();
                sem = new InterProcessSemaphoreV2(client(), path, count);
            } else {
                count = null;
                sem = new InterProcessSemaphoreV2(client(), path, Integer.parseInt(max));
            }
            thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "sem-" + name);
                t.setDaemon(true);
                return t;
            });
        }

        void acquire() {
            try {
                lease = sem.acquire();
                event("sem " + name + " acquired");
            } catch (Throwable e) {
                event("sem " + name + " error " + describe(e));
            }
        }

        void release() {
            Lease l = lease;
            lease = null;
            if (l != null) {
                sem.returnLease(l);
                event("sem " + name + " released");
            }
        }

        /** rounds of: acquire, log "start name", hold, log "end name", release. */
        void work(int rounds, long holdMs, String logPath) {
            try {
                for (int i = 0; i < rounds; i++) {
                    Lease l = sem.acquire();
                    try {
                        client().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                                .forPath(logPath + "/e-", ("start " + name).getBytes(StandardCharsets.UTF_8));
                        Thread.sleep(holdMs);
                        client().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                                .forPath(logPath + "/e-", ("end " + name).getBytes(StandardCharsets.UTF_8));
                    } finally {
                        sem.returnLease(l);
                    }
                }
                event("sem " + name + " done");
            } catch (Throwable e) {
                event("sem " + name + " error " + describe(e));
            }
        }

        void close() {
            thread.shutdownNow();
            if (count != null) {
                CloseableUtils.closeQuietly(count);
            }
        }
    }

    /**
     * An InterProcessMutex with a thread of its own: Curator's mutex belongs to the thread
     * that acquired it, so every acquire and release of a handle runs on that thread.
     */
    private final class MutexHandle {
        final String name;
        final String path;
        final InterProcessMutex mutex;
        final ExecutorService thread;

        MutexHandle(String name, String path, boolean revocable, boolean autoRelease) {
            this(name, path, new InterProcessMutex(client(), path), revocable, autoRelease);
        }

        MutexHandle(String name, String path, InterProcessMutex mutex, boolean revocable, boolean autoRelease) {
            this.name = name;
            this.path = path;
            this.mutex = mutex;
            this.thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "mutex-" + name);
                t.setDaemon(true);
                return t;
            });
            if (revocable) {
                mutex.makeRevocable(m -> {
                    event("mutex " + name + " revoke");
                    if (autoRelease) {
                        thread.submit(this::release);
                    }
                });
            }
        }

        void acquire(long timeoutMs) {
            try {
                boolean ok = true;
                if (timeoutMs < 0) {
                    mutex.acquire();
                } else {
                    ok = mutex.acquire(timeoutMs, TimeUnit.MILLISECONDS);
                }
                event("mutex " + name + (ok ? " acquired" : " timeout"));
            } catch (Throwable e) {
                event("mutex " + name + " error " + describe(e));
            }
        }

        void release() {
            try {
                if (mutex.isOwnedByCurrentThread()) {
                    mutex.release();
                    event("mutex " + name + " released");
                }
            } catch (Throwable e) {
                event("mutex " + name + " error " + describe(e));
            }
        }
    }

    private Peer(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        // A stray System.out.println anywhere in a library must not corrupt the protocol.
        System.setOut(System.err);
        Peer peer = new Peer(protocol);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.equals("close")) {
                peer.shutdown();
                peer.emit("OK");
                break;
            }
            peer.execute(line);
        }
        peer.shutdown();
        protocol.flush();
        System.exit(0);
    }

    private void emit(String line) {
        synchronized (outLock) {
            out.print(line);
            out.print('\n');
            out.flush();
        }
    }

    private void event(String line) {
        emit("EVENT " + line);
    }

    private void execute(String line) {
        String[] words = line.split(" +");
        try {
            dispatch(words[0], line, words);
            emit("OK");
        } catch (Throwable e) {
            emit("ERR " + describe(e));
        }
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        int open = 0;
        Throwable c = e;
        for (int depth = 0; c != null && depth < 8; depth++) {
            if (depth > 0) {
                sb.append(" (caused by ");
                open++;
            }
            sb.append(c.getClass().getName());
            if (c.getMessage() != null) {
                sb.append(": ").append(c.getMessage());
            }
            c = c.getCause() == c ? null : c.getCause();
        }
        sb.append(")".repeat(open));
        return sb.toString().replace('\r', ' ').replace('\n', ' ');
    }

    private void dispatch(String cmd, String line, String[] w) throws Exception {
        switch (cmd) {
            case "ping":
                return;
            case "connect":
                need(w, 3, "connect <connectString> <sessionTimeoutMs> [namespace]");
                connect(w[1], Integer.parseInt(w[2]), w.length > 3 ? w[3] : null);
                return;
            case "session":
                emit(Long.toString(client().getZookeeperClient().getZooKeeper().getSessionId()));
                return;
            case "get": {
                need(w, 2, "get <path>");
                Stat stat = new Stat();
                byte[] data = client().getData().storingStatIn(stat).forPath(w[1]);
                ObjectNode n = JSON.createObjectNode();
                if (data == null) {
                    n.putNull("data");
                } else {
                    n.put("data", Base64.getEncoder().encodeToString(data));
                }
                n.put("ephemeralOwner", stat.getEphemeralOwner());
                n.put("version", stat.getVersion());
                n.put("numChildren", stat.getNumChildren());
                emit(JSON.writeValueAsString(n));
                return;
            }
            case "children": {
                need(w, 2, "children <path>");
                List<String> children = new ArrayList<>(client().getChildren().forPath(w[1]));
                children.sort(null);
                emit(JSON.writeValueAsString(children));
                return;
            }
            case "latch-start": {
                // The id is the rest of the line, so it may contain spaces; no id means Curator's default "".
                String[] a = line.split(" +", 4);
                need(a, 3, "latch-start <name> <path> [id]");
                String ourPath = latchStart(a[1], a[2], a.length > 3 ? a[3] : "");
                emit(JSON.writeValueAsString(ourPath));
                return;
            }
            case "latch-close": {
                need(w, 2, "latch-close <name> [silent|notify]");
                LeaderLatch latch = latches.remove(w[1]);
                if (latch == null) {
                    throw new IllegalArgumentException("no latch " + w[1]);
                }
                LeaderLatch.CloseMode mode = LeaderLatch.CloseMode.SILENT;
                if (w.length > 2) {
                    switch (w[2]) {
                        case "silent":
                            break;
                        case "notify":
                            mode = LeaderLatch.CloseMode.NOTIFY_LEADER;
                            break;
                        default:
                            throw new IllegalArgumentException("close mode must be silent or notify: " + w[2]);
                    }
                }
                latch.close(mode);
                return;
            }
            case "latch-has":
                need(w, 2, "latch-has <name>");
                emit(Boolean.toString(latch(w[1]).hasLeadership()));
                return;
            case "latch-participants": {
                need(w, 2, "latch-participants <name>");
                ArrayNode arr = JSON.createArrayNode();
                for (Participant p : latch(w[1]).getParticipants()) {
                    arr.add(participant(p));
                }
                emit(JSON.writeValueAsString(arr));
                return;
            }
            case "latch-leader":
                need(w, 2, "latch-leader <name>");
                emit(JSON.writeValueAsString(participant(latch(w[1]).getLeader())));
                return;
            case "latch-ourpath": {
                need(w, 2, "latch-ourpath <name>");
                String p = latch(w[1]).getOurPath();
                emit(p == null ? "null" : JSON.writeValueAsString(p));
                return;
            }
            case "mutex-new":
                need(w, 3, "mutex-new <name> <path> [revocable] [autorelease]");
                if (mutexes.containsKey(w[1])) {
                    throw new IllegalArgumentException("mutex " + w[1] + " already exists");
                }
                mutexes.put(w[1], new MutexHandle(w[1], w[2], has(w, 3, "revocable"), has(w, 3, "autorelease")));
                return;
            case "rw-new": {
                // A handle on one half of its own InterProcessReadWriteLock, driven by the
                // mutex-* commands.
                need(w, 4, "rw-new <name> <path> <read|write> [revocable] [autorelease]");
                if (mutexes.containsKey(w[1])) {
                    throw new IllegalArgumentException("mutex " + w[1] + " already exists");
                }
                InterProcessReadWriteLock rw = new InterProcessReadWriteLock(client(), w[2]);
                InterProcessMutex half;
                switch (w[3]) {
                    case "read":
                        half = rw.readLock();
                        break;
                    case "write":
                        half = rw.writeLock();
                        break;
                    default:
                        throw new IllegalArgumentException("kind must be read or write: " + w[3]);
                }
                mutexes.put(w[1], new MutexHandle(w[1], w[2], half, has(w, 4, "revocable"), has(w, 4, "autorelease")));
                return;
            }
            case "mutex-acquire": {
                // Starts the acquire on the handle's thread and answers once its node exists
                // (the node's name, or null when a timed acquire gave up before it was seen).
                need(w, 3, "mutex-acquire <name> <timeoutMs|-1>");
                MutexHandle h = mutex(w[1]);
                List<String> before = new ArrayList<>(h.mutex.getParticipantNodes());
                long timeout = Long.parseLong(w[2]);
                java.util.concurrent.Future<?> f = h.thread.submit(() -> h.acquire(timeout));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                String node = null;
                while (node == null && System.nanoTime() < deadline) {
                    for (String n : h.mutex.getParticipantNodes()) {
                        if (!before.contains(n)) {
                            node = n;
                            break;
                        }
                    }
                    if (node == null) {
                        if (f.isDone() && !h.mutex.isAcquiredInThisProcess()) {
                            break;
                        }
                        // Curator offers no callback for "node created"; poll briefly.
                        Thread.sleep(2);
                    }
                }
                emit(node == null ? "null" : JSON.writeValueAsString(ZKPaths.getNodeFromPath(node)));
                return;
            }
            case "mutex-release": {
                need(w, 2, "mutex-release <name>");
                MutexHandle h = mutex(w[1]);
                h.thread.submit(h::release).get(60, TimeUnit.SECONDS);
                return;
            }
            case "mutex-held":
                need(w, 2, "mutex-held <name>");
                emit(Boolean.toString(mutex(w[1]).mutex.isAcquiredInThisProcess()));
                return;
            case "mutex-nodes": {
                need(w, 2, "mutex-nodes <path>");
                ArrayNode arr = JSON.createArrayNode();
                for (String n : new InterProcessMutex(client(), w[1]).getParticipantNodes()) {
                    arr.add(ZKPaths.getNodeFromPath(n));
                }
                emit(JSON.writeValueAsString(arr));
                return;
            }
            case "rw-nodes": {
                // Each half lists only its own kind of node, in the lock's order.
                need(w, 2, "rw-nodes <path>");
                InterProcessReadWriteLock rw = new InterProcessReadWriteLock(client(), w[1]);
                ObjectNode n = JSON.createObjectNode();
                ArrayNode readers = n.putArray("read");
                for (String p : rw.readLock().getParticipantNodes()) {
                    readers.add(ZKPaths.getNodeFromPath(p));
                }
                ArrayNode writers = n.putArray("write");
                for (String p : rw.writeLock().getParticipantNodes()) {
                    writers.add(ZKPaths.getNodeFromPath(p));
                }
                emit(JSON.writeValueAsString(n));
                return;
            }
            case "sem-new":
                need(w, 4, "sem-new <name> <path> <maxLeases|count:<countPath>>");
                if (sems.containsKey(w[1])) {
                    throw new IllegalArgumentException("semaphore " + w[1] + " already exists");
                }
                sems.put(w[1], new SemHandle(w[1], w[2], w[3]));
                return;
            case "sem-acquire": {
                need(w, 2, "sem-acquire <name>");
                SemHandle h = sem(w[1]);
                h.thread.submit(h::acquire);
                return;
            }
            case "sem-release": {
                need(w, 2, "sem-release <name>");
                SemHandle h = sem(w[1]);
                h.thread.submit(h::release).get(60, TimeUnit.SECONDS);
                return;
            }
            case "sem-work": {
                need(w, 5, "sem-work <name> <rounds> <holdMs> <logPath>");
                SemHandle h = sem(w[1]);
                int rounds = Integer.parseInt(w[2]);
                long hold = Long.parseLong(w[3]);
                String log = w[4];
                h.thread.submit(() -> h.work(rounds, hold, log));
                return;
            }
            case "sem-leases": {
                need(w, 2, "sem-leases <name>");
                ArrayNode arr = JSON.createArrayNode();
                // Curator 5.4 returns the lease nodes' names (children of P/leases), which
                // ZKPaths.getNodeFromPath rejects for not starting with "/".
                for (String p : sem(w[1]).sem.getParticipantNodes()) {
                    arr.add(p.startsWith("/") ? ZKPaths.getNodeFromPath(p) : p);
                }
                emit(JSON.writeValueAsString(arr));
                return;
            }
            case "count-set": {
                need(w, 3, "count-set <path> <value>");
                SharedCount c = new SharedCount(client(), w[1], 0);
                c.start();
                try {
                    c.setCount(Integer.parseInt(w[2]));
                } finally {
                    c.close();
                }
                return;
            }
            case "selector-start": {
                // The id is the rest of the line; none means Curator's default. Answers once
                // the participant's node exists (its id is listed).
                String[] a = line.split(" +", 4);
                need(a, 3, "selector-start <name> <path> [id]");
                if (selectors.containsKey(a[1])) {
                    throw new IllegalArgumentException("selector " + a[1] + " already exists");
                }
                String id = a.length > 3 ? a[3] : "";
                SelectorHandle h = new SelectorHandle(a[1], a[2], id);
                selectors.put(a[1], h);
                int before = h.selector.getParticipants().size();
                h.selector.start();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (h.selector.getParticipants().size() <= before) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("selector " + a[1] + " created no node within 60s");
                    }
                    // Curator offers no callback for "node created"; poll briefly.
                    Thread.sleep(5);
                }
                return;
            }
            case "selector-relinquish":
                need(w, 2, "selector-relinquish <name>");
                selector(w[1]).relinquish.release();
                return;
            case "selector-close": {
                need(w, 2, "selector-close <name>");
                SelectorHandle h = selectors.remove(w[1]);
                if (h == null) {
                    throw new IllegalArgumentException("no selector " + w[1]);
                }
                h.selector.close();
                return;
            }
            case "selector-participants": {
                need(w, 2, "selector-participants <name>");
                ArrayNode arr = JSON.createArrayNode();
                for (Participant p : selector(w[1]).selector.getParticipants()) {
                    arr.add(participant(p));
                }
                emit(JSON.writeValueAsString(arr));
                return;
            }
            case "selector-leader":
                need(w, 2, "selector-leader <name>");
                emit(JSON.writeValueAsString(participant(selector(w[1]).selector.getLeader())));
                return;
            case "revoke":
                need(w, 2, "revoke <lockNodePath>");
                Revoker.attemptRevoke(client(), w[1]);
                return;
            case "mutex-bench": {
                // n uncontended acquire+release cycles of one InterProcessMutex; answers the
                // nanoseconds of each cycle.
                need(w, 3, "mutex-bench <path> <n>");
                InterProcessMutex m = new InterProcessMutex(client(), w[1]);
                int n = Integer.parseInt(w[2]);
                ArrayNode arr = JSON.createArrayNode();
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    m.acquire();
                    m.release();
                    arr.add(System.nanoTime() - t0);
                }
                emit(JSON.writeValueAsString(arr));
                return;
            }
            case "mutex-handoff-bench":
                need(w, 4, "mutex-handoff-bench <path> <warm> <n>");
                emit(JSON.writeValueAsString(handoffBench(w[1], Integer.parseInt(w[2]), Integer.parseInt(w[3]))));
                return;
            case "mutex-contend-bench":
                need(w, 4, "mutex-contend-bench <path> <clients> <n>");
                emit(Long.toString(contendBench(w[1], Integer.parseInt(w[2]), Integer.parseInt(w[3]))));
                return;
            case "sd-start":
                need(w, 2, "sd-start <basePath> [compat|noncompat]");
                sdStart(w[1], w.length > 2 ? compatMode(w[2]) : true);
                return;
            case "sd-close":
                closeDiscovery();
                return;
            case "sd-register": {
                ServiceInstance<InstanceDetails> inst = parseInstance(w, 1);
                discovery().registerService(inst);
                registered.put(inst.getId(), inst);
                emit(JSON.writeValueAsString(inst.getId()));
                return;
            }
            case "sd-update": {
                need(w, 4, "sd-update <name> <id> <leader|null>");
                ServiceInstance<InstanceDetails> old = registered.get(w[2]);
                if (old == null || !old.getName().equals(w[1])) {
                    throw new IllegalArgumentException("instance " + w[1] + "/" + w[2] + " was not registered by this peer");
                }
                ServiceInstance<InstanceDetails> inst = new ServiceInstance<>(old.getName(), old.getId(), old.getAddress(),
                        old.getPort(), old.getSslPort(), payload(w[3]), old.getRegistrationTimeUTC(), old.getServiceType(),
                        old.getUriSpec(), old.isEnabled());
                discovery().updateService(inst);
                registered.put(inst.getId(), inst);
                return;
            }
            case "sd-unregister": {
                need(w, 2, "sd-unregister <id>");
                ServiceInstance<InstanceDetails> inst = registered.remove(w[1]);
                if (inst == null) {
                    throw new IllegalArgumentException("instance " + w[1] + " was not registered by this peer");
                }
                discovery().unregisterService(inst);
                return;
            }
            case "sd-query": {
                need(w, 2, "sd-query <name>");
                for (ServiceInstance<InstanceDetails> i : sorted(discovery().queryForInstances(w[1]))) {
                    emit(JSON.writeValueAsString(instance(i)));
                }
                return;
            }
            case "sd-query-one": {
                need(w, 3, "sd-query-one <name> <id>");
                ServiceInstance<InstanceDetails> i = discovery().queryForInstance(w[1], w[2]);
                emit(i == null ? "null" : JSON.writeValueAsString(instance(i)));
                return;
            }
            case "sd-names": {
                List<String> names = new ArrayList<>(discovery().queryForNames());
                names.sort(null);
                emit(JSON.writeValueAsString(names));
                return;
            }
            case "sd-serialize": {
                need(w, 2, "sd-serialize <compat|noncompat> <name> <id> <address> <port> <leader> [key=value...]");
                JsonInstanceSerializer<InstanceDetails> ser = new JsonInstanceSerializer<>(InstanceDetails.class, compatMode(w[1]));
                emit(JSON.writeValueAsString(Base64.getEncoder().encodeToString(ser.serialize(parseInstance(w, 2)))));
                return;
            }
            case "sd-deserialize": {
                need(w, 2, "sd-deserialize <base64>");
                JsonInstanceSerializer<InstanceDetails> ser = new JsonInstanceSerializer<>(InstanceDetails.class);
                emit(JSON.writeValueAsString(instance(ser.deserialize(Base64.getDecoder().decode(w[1])))));
                return;
            }
            case "cache-start":
                need(w, 2, "cache-start <name>");
                cacheStart(w[1]);
                return;
            case "cache-instances": {
                need(w, 2, "cache-instances <name>");
                ServiceCache<InstanceDetails> cache = caches.get(w[1]);
                if (cache == null) {
                    throw new IllegalArgumentException("no cache " + w[1]);
                }
                emit(JSON.writeValueAsString(instances(cache.getInstances())));
                return;
            }
            case "cache-close": {
                need(w, 2, "cache-close <name>");
                ServiceCache<InstanceDetails> cache = caches.remove(w[1]);
                if (cache == null) {
                    throw new IllegalArgumentException("no cache " + w[1]);
                }
                cache.close();
                return;
            }
            default:
                if (nodes.dispatch(cmd, w) || curatorCaches.dispatch(cmd, w)) {
                    return;
                }
                throw new IllegalArgumentException("unknown command " + cmd);
        }
    }

    private static boolean has(String[] words, int from, String flag) {
        for (int i = from; i < words.length; i++) {
            if (words[i].equals(flag)) {
                return true;
            }
        }
        return false;
    }

    private SelectorHandle selector(String name) {
        SelectorHandle h = selectors.get(name);
        if (h == null) {
            throw new IllegalArgumentException("no selector " + name);
        }
        return h;
    }

    private SemHandle sem(String name) {
        SemHandle h = sems.get(name);
        if (h == null) {
            throw new IllegalArgumentException("no semaphore " + name);
        }
        return h;
    }

    private MutexHandle mutex(String name) {
        MutexHandle h = mutexes.get(name);
        if (h == null) {
            throw new IllegalArgumentException("no mutex " + name);
        }
        return h;
    }

    private static void need(String[] words, int n, String usage) {
        if (words.length < n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    private CuratorFramework client() {
        if (client == null) {
            throw new IllegalStateException("not connected");
        }
        return client;
    }

    private ServiceDiscovery<InstanceDetails> discovery() {
        if (discovery == null) {
            throw new IllegalStateException("no sd-start yet");
        }
        return discovery;
    }

    private LeaderLatch latch(String name) {
        LeaderLatch latch = latches.get(name);
        if (latch == null) {
            throw new IllegalArgumentException("no latch " + name);
        }
        return latch;
    }

    private void connect(String connectString, int sessionTimeoutMs, String namespace) throws Exception {
        if (client != null) {
            throw new IllegalStateException("already connected");
        }
        this.connectString = connectString;
        this.sessionTimeoutMs = sessionTimeoutMs;
        this.namespace = namespace;
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(sessionTimeoutMs)
                // Curator warns when the connection timeout exceeds the session timeout.
                .connectionTimeoutMs(Math.min(15000, sessionTimeoutMs))
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 2000))
                .namespace(namespace)
                .build();
        c.getConnectionStateListenable().addListener((cf, state) -> event("state " + state.name()));
        c.start();
        if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
            c.close();
            throw new IllegalStateException("no connection to " + connectString + " within 60s");
        }
        client = c;
    }

    /**
     * Starts the latch and waits until its node exists, so that the order of latch-start
     * commands (and of Go joins between them) is the order of the participants' sequence numbers.
     * Returns the node path.
     */
    private String latchStart(String name, String path, String id) throws Exception {
        if (latches.containsKey(name)) {
            throw new IllegalArgumentException("latch " + name + " already exists");
        }
        LeaderLatch latch = new LeaderLatch(client(), path, id);
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                event("latch " + name + " isLeader");
            }

            @Override
            public void notLeader() {
                event("latch " + name + " notLeader");
            }
        });
        latches.put(name, latch);
        latch.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (latch.getOurPath() == null) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("latch " + name + " created no node within 60s");
            }
            // Curator offers no callback for "node created"; poll briefly.
            Thread.sleep(5);
        }
        return latch.getOurPath();
    }

    private final List<CuratorFramework> extras = new ArrayList<>();

    /**
     * The i-th extra client with the peer's settings (a session of its own), for the
     * benchmarks; made on first use and kept until close, so that rounds of a benchmark do
     * not open and close sessions between them.
     */
    private CuratorFramework extra(int i) throws Exception {
        while (extras.size() <= i) {
            extras.add(extraClient());
        }
        return extras.get(i);
    }

    /** Another client with the peer's settings (a session of its own), for the benchmarks. */
    private CuratorFramework extraClient() throws Exception {
        client();
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(sessionTimeoutMs)
                .connectionTimeoutMs(Math.min(15000, sessionTimeoutMs))
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 2000))
                .namespace(namespace)
                .build();
        c.start();
        if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
            c.close();
            throw new IllegalStateException("no connection to " + connectString + " within 60s");
        }
        return c;
    }

    /**
     * Two sessions hand one InterProcessMutex back and forth n times (after warm rounds):
     * the waiter waits with its node in place, the holder releases; each sample is from the
     * start of release() to the return of the waiter's acquire(), on one JVM clock.
     */
    private ArrayNode handoffBench(String path, int warm, int n) throws Exception {
        CuratorFramework c2 = extra(0);
        ExecutorService[] th = {Executors.newSingleThreadExecutor(), Executors.newSingleThreadExecutor()};
        try {
            InterProcessMutex[] m = {new InterProcessMutex(client(), path), new InterProcessMutex(c2, path)};
            th[0].submit(() -> {
                m[0].acquire();
                return null;
            }).get();
            ArrayNode arr = JSON.createArrayNode();
            for (int i = 0; i < warm + n; i++) {
                final int h = i % 2;
                final int wt = 1 - h;
                final long[] at = new long[2];
                java.util.concurrent.Future<?> f = th[wt].submit(() -> {
                    m[wt].acquire();
                    at[1] = System.nanoTime();
                    return null;
                });
                while (m[0].getParticipantNodes().size() < 2) {
                    Thread.sleep(1);
                }
                // Let the waiter arm its watch on the holder's node (Curator offers no signal).
                Thread.sleep(20);
                th[h].submit(() -> {
                    at[0] = System.nanoTime();
                    m[h].release();
                    return null;
                }).get();
                f.get(60, TimeUnit.SECONDS);
                if (i >= warm) {
                    arr.add(at[1] - at[0]);
                }
            }
            final int last = (warm + n) % 2;
            th[last].submit(() -> {
                m[last].release();
                return null;
            }).get();
            return arr;
        } finally {
            th[0].shutdownNow();
            th[1].shutdownNow();
        }
    }

    /**
     * k clients (sessions), one thread each, acquire and release one InterProcessMutex until
     * n cycles are done in all; answers the elapsed nanoseconds.
     */
    private long contendBench(String path, int k, int n) throws Exception {
        CuratorFramework[] cs = new CuratorFramework[k];
        Thread[] threads = new Thread[k];
        {
            for (int i = 0; i < k; i++) {
                cs[i] = extra(i);
            }
            java.util.concurrent.atomic.AtomicInteger left = new java.util.concurrent.atomic.AtomicInteger(n);
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            for (int i = 0; i < k; i++) {
                InterProcessMutex m = new InterProcessMutex(cs[i], path);
                threads[i] = new Thread(() -> {
                    try {
                        go.await();
                        while (left.getAndDecrement() > 0) {
                            m.acquire();
                            m.release();
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                });
                threads[i].start();
            }
            long t0 = System.nanoTime();
            go.countDown();
            for (Thread t : threads) {
                t.join();
            }
            long elapsed = System.nanoTime() - t0;
            if (failure.get() != null) {
                throw new IllegalStateException("contender failed", failure.get());
            }
            return elapsed;
        }
    }

    private static ObjectNode participant(Participant p) {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", p.getId());
        n.put("isLeader", p.isLeader());
        return n;
    }

    private static boolean compatMode(String s) {
        switch (s) {
            case "compat":
                return true;
            case "noncompat":
                return false;
            default:
                throw new IllegalArgumentException("serialization mode must be compat or noncompat: " + s);
        }
    }

    private void sdStart(String basePath, boolean compatible) throws Exception {
        if (discovery != null) {
            throw new IllegalStateException("sd-start already done");
        }
        ServiceDiscovery<InstanceDetails> d = ServiceDiscoveryBuilder.builder(InstanceDetails.class)
                .client(client())
                .basePath(basePath)
                .serializer(new JsonInstanceSerializer<>(InstanceDetails.class, compatible))
                .build();
        d.start();
        discovery = d;
    }

    private void closeDiscovery() {
        for (ServiceCache<InstanceDetails> c : caches.values()) {
            CloseableUtils.closeQuietly(c);
        }
        caches.clear();
        if (discovery != null) {
            CloseableUtils.closeQuietly(discovery);
            discovery = null;
        }
        registered.clear();
    }

    private static InstanceDetails payload(String leader) {
        switch (leader) {
            case "true":
                return new InstanceDetails(true);
            case "false":
                return new InstanceDetails(false);
            case "null":
                return null;
            default:
                throw new IllegalArgumentException("leader must be true, false or null: " + leader);
        }
    }

    /**
     * Parses "name id address port leader [key=value...]" from w[from]. "-" for id, address or
     * port leaves Curator's builder default (random UUID, first local IP, no port); leader
     * "null" registers no payload. Keys: sslPort, uriSpec, serviceType, registrationTimeUTC, enabled.
     */
    private static ServiceInstance<InstanceDetails> parseInstance(String[] w, int from) throws Exception {
        if (w.length < from + 5) {
            throw new IllegalArgumentException("usage: " + w[0] + " <name> <id|-> <address|-> <port|-> <leader|null> [key=value...]");
        }
        // builder() lists the host's network interfaces for a default address, which fails
        // now and then while Docker adds or removes one (SocketException "No such device"):
        // such a failure is transient, so try again a few times.
        ServiceInstanceBuilder<InstanceDetails> b;
        for (int attempt = 1; ; attempt++) {
            try {
                b = ServiceInstance.builder();
                break;
            } catch (java.net.SocketException e) {
                if (attempt == 10) {
                    throw e;
                }
                Thread.sleep(20L * attempt);
            }
        }
        b.name(w[from]);
        if (!w[from + 1].equals("-")) {
            b.id(w[from + 1]);
        }
        if (!w[from + 2].equals("-")) {
            b.address(w[from + 2]);
        }
        if (!w[from + 3].equals("-")) {
            b.port(Integer.parseInt(w[from + 3]));
        }
        b.payload(payload(w[from + 4]));
        for (int i = from + 5; i < w.length; i++) {
            int eq = w[i].indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("expected key=value: " + w[i]);
            }
            String k = w[i].substring(0, eq);
            String v = w[i].substring(eq + 1);
            switch (k) {
                case "sslPort":
                    b.sslPort(Integer.parseInt(v));
                    break;
                case "uriSpec":
                    b.uriSpec(new UriSpec(v));
                    break;
                case "serviceType":
                    b.serviceType(ServiceType.valueOf(v));
                    break;
                case "registrationTimeUTC":
                    b.registrationTimeUTC(Long.parseLong(v));
                    break;
                case "enabled":
                    b.enabled(Boolean.parseBoolean(v));
                    break;
                default:
                    throw new IllegalArgumentException("unknown key " + k);
            }
        }
        return b.build();
    }

    private static List<ServiceInstance<InstanceDetails>> sorted(java.util.Collection<ServiceInstance<InstanceDetails>> c) {
        List<ServiceInstance<InstanceDetails>> l = new ArrayList<>(c);
        l.sort(Comparator.comparing(ServiceInstance::getId, Comparator.nullsFirst(Comparator.naturalOrder())));
        return l;
    }

    private static ArrayNode instances(java.util.Collection<ServiceInstance<InstanceDetails>> c) {
        ArrayNode arr = JSON.createArrayNode();
        for (ServiceInstance<InstanceDetails> i : sorted(c)) {
            arr.add(instance(i));
        }
        return arr;
    }

    /** Every field of the instance as Java sees it, so a Go test can check each one. */
    private static ObjectNode instance(ServiceInstance<InstanceDetails> i) {
        ObjectNode n = JSON.createObjectNode();
        n.put("name", i.getName());
        n.put("id", i.getId());
        n.put("address", i.getAddress());
        n.put("port", i.getPort());
        n.put("sslPort", i.getSslPort());
        Object p = i.getPayload();
        if (p == null) {
            n.putNull("payload");
            n.putNull("payloadClass");
        } else {
            n.set("payload", JSON.valueToTree(p));
            n.put("payloadClass", p.getClass().getName());
        }
        n.put("registrationTimeUTC", i.getRegistrationTimeUTC());
        n.put("serviceType", i.getServiceType() == null ? null : i.getServiceType().name());
        UriSpec spec = i.getUriSpec();
        if (spec == null) {
            n.putNull("uriSpec");
            n.putNull("uriSpecParts");
        } else {
            n.put("uriSpec", spec.build(i));
            ArrayNode parts = n.putArray("uriSpecParts");
            for (UriSpec.Part part : spec.getParts()) {
                ObjectNode pn = parts.addObject();
                pn.put("value", part.getValue());
                pn.put("variable", part.isVariable());
            }
        }
        n.put("enabled", i.isEnabled());
        return n;
    }

    private void cacheStart(String name) throws Exception {
        if (caches.containsKey(name)) {
            throw new IllegalArgumentException("cache " + name + " already exists");
        }
        ServiceCache<InstanceDetails> cache = discovery().serviceCacheBuilder().name(name).build();
        caches.put(name, cache);
        cache.addListener(new ServiceCacheListener() {
            @Override
            public void cacheChanged() {
                try {
                    event("cache " + name + " changed " + JSON.writeValueAsString(instances(cache.getInstances())));
                } catch (Exception e) {
                    event("cache " + name + " error " + describe(e));
                }
            }

            @Override
            public void stateChanged(CuratorFramework c, ConnectionState state) {
                event("cache " + name + " state " + state.name());
            }
        });
        try {
            cache.start();
        } catch (Exception e) {
            caches.remove(name);
            CloseableUtils.closeQuietly(cache);
            throw e;
        }
    }

    private void shutdown() {
        for (MutexHandle h : mutexes.values()) {
            h.thread.shutdownNow();
        }
        mutexes.clear();
        for (SemHandle h : sems.values()) {
            h.close();
        }
        sems.clear();
        for (SelectorHandle h : selectors.values()) {
            CloseableUtils.closeQuietly(h.selector);
        }
        selectors.clear();
        curatorCaches.close(); // before the extra clients its benchmarks use
        for (CuratorFramework c : extras) {
            CloseableUtils.closeQuietly(c);
        }
        extras.clear();
        nodes.close();
        closeDiscovery();
        for (LeaderLatch l : latches.values()) {
            CloseableUtils.closeQuietly(l);
        }
        latches.clear();
        if (client != null) {
            CloseableUtils.closeQuietly(client);
            client = null;
        }
    }
}
