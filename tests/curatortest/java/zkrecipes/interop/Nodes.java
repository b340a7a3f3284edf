package zkrecipes.interop;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.nodes.GroupMember;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.nodes.PersistentTtlNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.CloseableUtils;
import org.apache.zookeeper.CreateMode;

/**
 * The peer's commands for shared counters, atomic longs, persistent nodes and TTL nodes.
 *
 * <pre>
 * count-start name path seed      start a SharedCount; its listener emits "EVENT count name n"
 * count-get name                  {"value":n,"version":v}
 * count-increment name n          n successful trySetCount(+1) loops; prints the trySetCount calls made
 * count-close name
 * dal-increment path n            n increment() calls of a DistributedAtomicLong (RetryNTimes(10000, 1));
 *                                 prints how many succeeded
 * dal-get path                    the value
 * pn-start name mode path data [protected]   start a PersistentNode (mode: CreateMode name)
 * pn-wait name ms                 waitForInitialCreate; prints true/false
 * pn-path name                    getActualPath (null when none)
 * pn-setdata name data
 * pn-close name
 * ttl-start name path ttlMs data  start a PersistentTtlNode
 * ttl-close name
 * group-start name path id payload   start a GroupMember ("-": no payload, Curator's default data)
 * group-members name              getCurrentMembers as {"id":"payload (UTF-8)",...}
 * group-setpayload name payload   setThisData
 * group-close name
 * count-bench connectString path threads n   n trySetCount increments shared by threads contenders,
 *                                 each with its own client and SharedCount; prints the elapsed nanoseconds
 * group-views name connectString path k sessionMs   k GroupMembers with ids name-0..name-(k-1) in the
 *                                 group at path (a full server path), each on a client of its own
 * group-views-await name id ms    waits until every view of name lists member id
 * group-views-arm name id         checks that every view lists id, then, once every view has dropped
 *                                 it, emits "EVENT groupviews name dropped epochNanos" (the wall-clock
 *                                 instant of the last view's drop, Instant.now() on the host's clock)
 * group-views-close name
 * </pre>
 */
final class Nodes {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Supplier<CuratorFramework> client;
    private final Consumer<String> emit;
    private final Consumer<String> event;
    private final Map<String, SharedCount> counts = new ConcurrentHashMap<>();
    private final Map<String, PersistentNode> nodes = new ConcurrentHashMap<>();
    private final Map<String, PersistentTtlNode> ttls = new ConcurrentHashMap<>();
    private final Map<String, GroupMember> groups = new ConcurrentHashMap<>();
    private final Map<String, GroupViews> views = new ConcurrentHashMap<>();

    Nodes(Supplier<CuratorFramework> client, Consumer<String> emit, Consumer<String> event) {
        this.client = client;
        this.emit = emit;
        this.event = event;
    }

    /** Runs cmd if it is one of these commands; false otherwise. */
    boolean dispatch(String cmd, String[] w) throws Exception {
        switch (cmd) {
            case "count-start": {
                need(w, 4, "count-start <name> <path> <seed>");
                SharedCount c = new SharedCount(client.get(), w[2], Integer.parseInt(w[3]));
                String name = w[1];
                c.addListener(new SharedCountListener() {
                    @Override
                    public void countHasChanged(SharedCountReader reader, int newCount) {
                        event.accept("count " + name + " " + newCount);
                    }

                    @Override
                    public void stateChanged(CuratorFramework c, ConnectionState s) {
                    }
                });
                c.start();
                counts.put(w[1], c);
                return true;
            }
            case "count-get": {
                need(w, 2, "count-get <name>");
                VersionedValue<Integer> v = count(w[1]).getVersionedValue();
                ObjectNode n = JSON.createObjectNode();
                n.put("value", v.getValue());
                n.put("version", v.getVersion());
                emit.accept(JSON.writeValueAsString(n));
                return true;
            }
            case "count-increment": {
                need(w, 3, "count-increment <name> <n>");
                SharedCount c = count(w[1]);
                int want = Integer.parseInt(w[2]);
                long calls = 0;
                for (int done = 0; done < want; ) {
                    VersionedValue<Integer> v = c.getVersionedValue();
                    calls++;
                    if (c.trySetCount(v, v.getValue() + 1)) {
                        done++;
                    }
                }
                emit.accept(Long.toString(calls));
                return true;
            }
            case "count-close": {
                need(w, 2, "count-close <name>");
                SharedCount c = counts.remove(w[1]);
                if (c == null) {
                    throw new IllegalArgumentException("no count " + w[1]);
                }
                c.close();
                return true;
            }
            case "dal-increment": {
                need(w, 3, "dal-increment <path> <n>");
                DistributedAtomicLong dal = new DistributedAtomicLong(client.get(), w[1], new RetryNTimes(10000, 1));
                int n = Integer.parseInt(w[2]);
                int ok = 0;
                for (int i = 0; i < n; i++) {
                    AtomicValue<Long> v = dal.increment();
                    if (v.succeeded()) {
                        ok++;
                    }
                }
                emit.accept(Integer.toString(ok));
                return true;
            }
            case "dal-get": {
                need(w, 2, "dal-get <path>");
                DistributedAtomicLong dal = new DistributedAtomicLong(client.get(), w[1], new RetryNTimes(3, 10));
                emit.accept(Long.toString(dal.get().postValue()));
                return true;
            }
            case "pn-start": {
                need(w, 5, "pn-start <name> <mode> <path> <data> [protected]");
                boolean prot = w.length > 5 && w[5].equals("protected");
                PersistentNode pn = new PersistentNode(client.get(), CreateMode.valueOf(w[2]), prot, w[3],
                        w[4].getBytes(StandardCharsets.UTF_8));
                pn.start();
                nodes.put(w[1], pn);
                return true;
            }
            case "pn-wait": {
                need(w, 3, "pn-wait <name> <ms>");
                emit.accept(Boolean.toString(node(w[1]).waitForInitialCreate(Long.parseLong(w[2]), TimeUnit.MILLISECONDS)));
                return true;
            }
            case "pn-path": {
                need(w, 2, "pn-path <name>");
                emit.accept(JSON.writeValueAsString(node(w[1]).getActualPath()));
                return true;
            }
            case "pn-setdata": {
                need(w, 3, "pn-setdata <name> <data>");
                node(w[1]).setData(w[2].getBytes(StandardCharsets.UTF_8));
                return true;
            }
            case "pn-close": {
                need(w, 2, "pn-close <name>");
                PersistentNode pn = nodes.remove(w[1]);
                if (pn == null) {
                    throw new IllegalArgumentException("no persistent node " + w[1]);
                }
                pn.close();
                return true;
            }
            case "ttl-start": {
                need(w, 5, "ttl-start <name> <path> <ttlMs> <data>");
                PersistentTtlNode n = new PersistentTtlNode(client.get(), w[2], Long.parseLong(w[3]),
                        w[4].getBytes(StandardCharsets.UTF_8));
                n.start();
                ttls.put(w[1], n);
                return true;
            }
            case "ttl-close": {
                need(w, 2, "ttl-close <name>");
                PersistentTtlNode n = ttls.remove(w[1]);
                if (n == null) {
                    throw new IllegalArgumentException("no ttl node " + w[1]);
                }
                n.close();
                return true;
            }
            case "group-start": {
                need(w, 5, "group-start <name> <path> <id> <payload|->");
                byte[] payload = w[4].equals("-") ? null : w[4].getBytes(StandardCharsets.UTF_8);
                GroupMember g = payload == null ? new GroupMember(client.get(), w[2], w[3]) : new GroupMember(client.get(), w[2], w[3], payload);
                g.start();
                groups.put(w[1], g);
                return true;
            }
            case "group-members": {
                need(w, 2, "group-members <name>");
                GroupMember g = groups.get(w[1]);
                if (g == null) {
                    throw new IllegalArgumentException("no group member " + w[1]);
                }
                ObjectNode out = JSON.createObjectNode();
                for (Map.Entry<String, byte[]> e : g.getCurrentMembers().entrySet()) {
                    out.put(e.getKey(), new String(e.getValue(), StandardCharsets.UTF_8));
                }
                emit.accept(JSON.writeValueAsString(out));
                return true;
            }
            case "group-setpayload": {
                need(w, 3, "group-setpayload <name> <payload>");
                GroupMember g = groups.get(w[1]);
                if (g == null) {
                    throw new IllegalArgumentException("no group member " + w[1]);
                }
                g.setThisData(w[2].getBytes(StandardCharsets.UTF_8));
                return true;
            }
            case "group-close": {
                need(w, 2, "group-close <name>");
                GroupMember g = groups.remove(w[1]);
                if (g == null) {
                    throw new IllegalArgumentException("no group member " + w[1]);
                }
                g.close();
                return true;
            }
            case "group-views": {
                need(w, 6, "group-views <name> <connectString> <path> <k> <sessionMs>");
                GroupViews v = new GroupViews(w[1], event);
                views.put(w[1], v);
                v.start(w[2], w[3], Integer.parseInt(w[4]), Integer.parseInt(w[5]));
                return true;
            }
            case "group-views-await": {
                need(w, 4, "group-views-await <name> <id> <ms>");
                views(w[1]).awaitPresent(w[2], Long.parseLong(w[3]));
                return true;
            }
            case "group-views-arm": {
                need(w, 3, "group-views-arm <name> <id>");
                views(w[1]).arm(w[2]);
                return true;
            }
            case "group-views-close": {
                need(w, 2, "group-views-close <name>");
                GroupViews v = views.remove(w[1]);
                if (v == null) {
                    throw new IllegalArgumentException("no group views " + w[1]);
                }
                v.close();
                return true;
            }
            case "count-bench": {
                need(w, 5, "count-bench <connectString> <path> <threads> <n>");
                emit.accept(Long.toString(countBench(w[1], w[2], Integer.parseInt(w[3]), Integer.parseInt(w[4]))));
                return true;
            }
            default:
                return false;
        }
    }

    private static long countBench(String connectString, String path, int threads, int n) throws Exception {
        List<CuratorFramework> clients = new ArrayList<>();
        List<SharedCount> counts = new ArrayList<>();
        try {
            for (int i = 0; i < threads; i++) {
                CuratorFramework c = CuratorFrameworkFactory.newClient(connectString, 10000, 10000, new RetryNTimes(3, 100));
                c.start();
                c.blockUntilConnected();
                clients.add(c);
                SharedCount sc = new SharedCount(c, path, 0);
                sc.start();
                counts.add(sc);
            }
            AtomicInteger done = new AtomicInteger();
            List<Thread> ts = new ArrayList<>();
            AtomicReference<Exception> failure = new AtomicReference<>();
            long start = System.nanoTime();
            for (SharedCount sc : counts) {
                Thread t = new Thread(() -> {
                    try {
                        while (done.get() < n) {
                            VersionedValue<Integer> v = sc.getVersionedValue();
                            if (sc.trySetCount(v, v.getValue() + 1)) {
                                done.incrementAndGet();
                            }
                        }
                    } catch (Exception e) {
                        failure.compareAndSet(null, e);
                    }
                });
                t.start();
                ts.add(t);
            }
            for (Thread t : ts) {
                t.join();
            }
            long elapsed = System.nanoTime() - start;
            if (failure.get() != null) {
                throw failure.get();
            }
            return elapsed;
        } finally {
            for (SharedCount sc : counts) {
                CloseableUtils.closeQuietly(sc);
            }
            for (CuratorFramework c : clients) {
                CloseableUtils.closeQuietly(c);
            }
        }
    }

    private GroupViews views(String name) {
        GroupViews v = views.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no group views " + name);
        }
        return v;
    }

    /**
     * Several GroupMember views of one group, each on a client of its own, for the drop benchmark.
     * GroupMember offers no listener, so one is added to its private cache by reflection: it runs
     * after the cache has applied a change, so getCurrentMembers then shows it. Waiting is on
     * those events, never by polling, so the drop instant is the instant the view changed.
     */
    private static final class GroupViews {
        private final String name;
        private final Consumer<String> event;
        private final List<CuratorFramework> clients = new ArrayList<>();
        private final List<GroupMember> members = new ArrayList<>();
        // Guarded by this.
        private String armed;
        private boolean[] dropped;

        GroupViews(String name, Consumer<String> event) {
            this.name = name;
            this.event = event;
        }

        void start(String connectString, String path, int k, int sessionMs) throws Exception {
            Field f = GroupMember.class.getDeclaredField("cache");
            f.setAccessible(true);
            for (int i = 0; i < k; i++) {
                CuratorFramework c = CuratorFrameworkFactory.newClient(connectString, sessionMs, 15000, new RetryNTimes(3, 100));
                c.start();
                clients.add(c);
                if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("view client did not connect");
                }
                GroupMember g = new GroupMember(c, path, name + "-" + i);
                ((CuratorCache) f.get(g)).listenable().addListener(new CuratorCacheListener() {
                    @Override
                    public void event(Type type, org.apache.curator.framework.recipes.cache.ChildData oldData,
                            org.apache.curator.framework.recipes.cache.ChildData data) {
                        changed();
                    }

                    @Override
                    public void initialized() {
                        changed();
                    }
                });
                members.add(g);
                g.start();
            }
        }

        private synchronized void changed() {
            if (armed != null) {
                boolean all = true;
                for (int i = 0; i < members.size(); i++) {
                    if (!dropped[i] && !members.get(i).getCurrentMembers().containsKey(armed)) {
                        dropped[i] = true;
                    }
                    all &= dropped[i];
                }
                if (all) {
                    Instant now = Instant.now();
                    long epochNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
                    armed = null;
                    event.accept("groupviews " + name + " dropped " + epochNanos);
                }
            }
            notifyAll();
        }

        private boolean allHave(String id) {
            for (GroupMember g : members) {
                if (!g.getCurrentMembers().containsKey(id)) {
                    return false;
                }
            }
            return true;
        }

        synchronized void awaitPresent(String id, long ms) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
            while (!allHave(id)) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    throw new IllegalStateException("not every view lists " + id + " after " + ms + " ms");
                }
                wait(left);
            }
        }

        synchronized void arm(String id) {
            if (!allHave(id)) {
                throw new IllegalStateException("not every view lists " + id);
            }
            armed = id;
            dropped = new boolean[members.size()];
        }

        void close() {
            for (GroupMember g : members) {
                CloseableUtils.closeQuietly(g);
            }
            for (CuratorFramework c : clients) {
                CloseableUtils.closeQuietly(c);
            }
        }
    }

    private SharedCount count(String name) {
        SharedCount c = counts.get(name);
        if (c == null) {
            throw new IllegalArgumentException("no count " + name);
        }
        return c;
    }

    private PersistentNode node(String name) {
        PersistentNode n = nodes.get(name);
        if (n == null) {
            throw new IllegalArgumentException("no persistent node " + name);
        }
        return n;
    }

    private static void need(String[] words, int n, String usage) {
        if (words.length < n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    void close() {
        for (SharedCount c : counts.values()) {
            CloseableUtils.closeQuietly(c);
        }
        counts.clear();
        for (PersistentNode n : nodes.values()) {
            CloseableUtils.closeQuietly(n);
        }
        nodes.clear();
        for (PersistentTtlNode n : ttls.values()) {
            CloseableUtils.closeQuietly(n);
        }
        ttls.clear();
        for (GroupMember g : groups.values()) {
            CloseableUtils.closeQuietly(g);
        }
        groups.clear();
        for (GroupViews v : views.values()) {
            v.close();
        }
        views.clear();
    }
}
