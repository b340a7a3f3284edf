package zkrecipes.interop;

import com.example.InstanceDetails;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.utils.CloseableUtils;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.curator.x.discovery.details.ServiceCacheListener;

/**
 * The peer's commands for CuratorCache, and the cache and discovery benchmarks.
 *
 * <pre>
 * cc-start name path              start a CuratorCache (CuratorCache.build, no options) with a listener
 *                                 that emits "EVENT cc name {json}" per event, where json is
 *                                 {"type":"NODE_CREATED|NODE_CHANGED|NODE_DELETED","path":p,
 *                                 "old":base64|null,"new":base64|null}, and "EVENT cc name initialized";
 *                                 returns at once (wait for the initialized event)
 * cc-close name
 * cc-start-bench path warm n      warm, then n rounds of: build a CuratorCache of path on the peer's
 *                                 client, add a listener, start, wait for initialized (timed), close;
 *                                 prints the n samples in nanoseconds (a JSON array)
 * sc-bench-setup basePath service instances
 *                                 a ServiceDiscovery on the peer's client registers that many DYNAMIC
 *                                 instances (ids i00000...), a second ServiceDiscovery on a client of
 *                                 its own (another session) starts a ServiceCache of the service
 * sc-bench n                      n rounds of: updateService of the next instance (its payload's
 *                                 leader flips) on the first client, until the ServiceCache's
 *                                 cacheChanged on the other; prints the samples in nanoseconds
 * sd-register-bench basePath service n
 *                                 n registerService calls of new DYNAMIC instances (random ids), one
 *                                 after another, on a ServiceDiscovery of the peer's client made on
 *                                 first use; prints each call's nanoseconds
 * </pre>
 */
final class Caches {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The peer's i-th extra client (a session of its own), made on first use. */
    interface Extra {
        CuratorFramework get(int i) throws Exception;
    }

    private final Supplier<CuratorFramework> client;
    private final Extra extra;
    private final Consumer<String> emit;
    private final Consumer<String> event;
    private final Map<String, CuratorCache> caches = new ConcurrentHashMap<>();
    private UpdateBench updateBench;
    private ServiceDiscovery<InstanceDetails> registerDiscovery;
    private String registerBase;

    Caches(Supplier<CuratorFramework> client, Extra extra, Consumer<String> emit, Consumer<String> event) {
        this.client = client;
        this.extra = extra;
        this.emit = emit;
        this.event = event;
    }

    /** Runs cmd if it is one of these commands; false otherwise. */
    boolean dispatch(String cmd, String[] w) throws Exception {
        switch (cmd) {
            case "cc-start": {
                need(w, 3, "cc-start <name> <path>");
                ccStart(w[1], w[2]);
                return true;
            }
            case "cc-close": {
                need(w, 2, "cc-close <name>");
                CuratorCache c = caches.remove(w[1]);
                if (c == null) {
                    throw new IllegalArgumentException("no curator cache " + w[1]);
                }
                c.close();
                return true;
            }
            case "cc-start-bench":
                need(w, 4, "cc-start-bench <path> <warm> <n>");
                emit.accept(JSON.writeValueAsString(startBench(w[1], Integer.parseInt(w[2]), Integer.parseInt(w[3]))));
                return true;
            case "sc-bench-setup":
                need(w, 4, "sc-bench-setup <basePath> <service> <instances>");
                if (updateBench != null) {
                    throw new IllegalStateException("sc-bench-setup already done");
                }
                updateBench = new UpdateBench(w[1], w[2], Integer.parseInt(w[3]));
                return true;
            case "sc-bench": {
                need(w, 2, "sc-bench <n>");
                if (updateBench == null) {
                    throw new IllegalStateException("no sc-bench-setup yet");
                }
                emit.accept(JSON.writeValueAsString(updateBench.run(Integer.parseInt(w[1]))));
                return true;
            }
            case "sd-register-bench":
                need(w, 4, "sd-register-bench <basePath> <service> <n>");
                emit.accept(JSON.writeValueAsString(registerBench(w[1], w[2], Integer.parseInt(w[3]))));
                return true;
            default:
                return false;
        }
    }

    private void ccStart(String name, String path) {
        if (caches.containsKey(name)) {
            throw new IllegalArgumentException("curator cache " + name + " already exists");
        }
        CuratorCache c = CuratorCache.build(client.get(), path);
        c.listenable().addListener(new CuratorCacheListener() {
            @Override
            public void event(Type type, ChildData oldData, ChildData data) {
                ObjectNode n = JSON.createObjectNode();
                n.put("type", type.name());
                ChildData any = data != null ? data : oldData;
                n.put("path", any == null ? null : any.getPath());
                putData(n, "old", oldData);
                putData(n, "new", data);
                try {
                    event.accept("cc " + name + " " + JSON.writeValueAsString(n));
                } catch (Exception e) {
                    event.accept("cc " + name + " error " + e);
                }
            }

            @Override
            public void initialized() {
                event.accept("cc " + name + " initialized");
            }
        });
        caches.put(name, c);
        c.start();
    }

    private static void putData(ObjectNode n, String field, ChildData d) {
        if (d == null || d.getData() == null) {
            n.putNull(field);
        } else {
            n.put(field, Base64.getEncoder().encodeToString(d.getData()));
        }
    }

    private ArrayNode startBench(String path, int warm, int n) throws Exception {
        ArrayNode out = JSON.createArrayNode();
        for (int i = 0; i < warm + n; i++) {
            CountDownLatch initialized = new CountDownLatch(1);
            long t0 = System.nanoTime();
            CuratorCache c = CuratorCache.build(client.get(), path);
            try {
                c.listenable().addListener(new CuratorCacheListener() {
                    @Override
                    public void event(Type type, ChildData oldData, ChildData data) {
                    }

                    @Override
                    public void initialized() {
                        initialized.countDown();
                    }
                });
                c.start();
                if (!initialized.await(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("CuratorCache of " + path + " not initialized within 60s");
                }
                long d = System.nanoTime() - t0;
                if (i >= warm) {
                    out.add(d);
                }
            } finally {
                c.close();
            }
        }
        return out;
    }

    /**
     * A DYNAMIC instance at 127.0.0.1:8080, made with the constructor: ServiceInstance.builder()
     * lists the host's network interfaces every time, which fails now and then ("No such
     * device") while Docker adds or removes interfaces on a busy test machine.
     */
    private static ServiceInstance<InstanceDetails> instance(String service, String id, boolean leader) {
        return new ServiceInstance<>(service, id, "127.0.0.1", 8080, null, new InstanceDetails(leader),
                System.currentTimeMillis(), ServiceType.DYNAMIC, null, true);
    }

    private static ServiceDiscovery<InstanceDetails> discovery(CuratorFramework c, String basePath) throws Exception {
        ServiceDiscovery<InstanceDetails> d = ServiceDiscoveryBuilder.builder(InstanceDetails.class)
                .client(c)
                .basePath(basePath)
                .serializer(new JsonInstanceSerializer<>(InstanceDetails.class))
                .build();
        d.start();
        return d;
    }

    /** An updater and a ServiceCache on two sessions, for sc-bench. */
    private final class UpdateBench {
        final ServiceDiscovery<InstanceDetails> writer;
        final ServiceDiscovery<InstanceDetails> reader;
        final ServiceCache<InstanceDetails> cache;
        final List<ServiceInstance<InstanceDetails>> instances = new ArrayList<>();
        final Semaphore changed = new Semaphore(0);
        volatile long changedAt;
        int next;

        UpdateBench(String basePath, String service, int n) throws Exception {
            writer = discovery(client.get(), basePath);
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    ServiceInstance<InstanceDetails> in = instance(service, String.format("i%05d", i), false);
                    instances.add(in);
                    fs.add(pool.submit(() -> {
                        writer.registerService(in);
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            reader = discovery(extra.get(0), basePath);
            cache = reader.serviceCacheBuilder().name(service).build();
            cache.addListener(new ServiceCacheListener() {
                @Override
                public void cacheChanged() {
                    changedAt = System.nanoTime();
                    changed.release();
                }

                @Override
                public void stateChanged(CuratorFramework c, ConnectionState s) {
                }
            });
            cache.start();
            if (cache.getInstances().size() != n) {
                throw new IllegalStateException("ServiceCache holds " + cache.getInstances().size() + " of " + n);
            }
        }

        ArrayNode run(int n) throws Exception {
            ArrayNode out = JSON.createArrayNode();
            for (int i = 0; i < n; i++) {
                int k = next++ % instances.size();
                ServiceInstance<InstanceDetails> old = instances.get(k);
                ServiceInstance<InstanceDetails> in = instance(old.getName(), old.getId(), !old.getPayload().isLeader());
                instances.set(k, in);
                changed.drainPermits();
                long t0 = System.nanoTime();
                writer.updateService(in);
                if (!changed.tryAcquire(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("no cacheChanged within 60s");
                }
                out.add(changedAt - t0);
            }
            return out;
        }

        void close() {
            CloseableUtils.closeQuietly(cache);
            CloseableUtils.closeQuietly(reader);
            CloseableUtils.closeQuietly(writer);
        }
    }

    private ArrayNode registerBench(String basePath, String service, int n) throws Exception {
        if (registerDiscovery == null) {
            registerDiscovery = discovery(client.get(), basePath);
            registerBase = basePath;
        } else if (!registerBase.equals(basePath)) {
            throw new IllegalArgumentException("sd-register-bench runs on " + registerBase + " already");
        }
        ArrayNode out = JSON.createArrayNode();
        for (int i = 0; i < n; i++) {
            ServiceInstance<InstanceDetails> in = instance(service, UUID.randomUUID().toString(), false);
            long t0 = System.nanoTime();
            registerDiscovery.registerService(in);
            out.add(System.nanoTime() - t0);
        }
        return out;
    }

    private static void need(String[] words, int n, String usage) {
        if (words.length < n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    void close() {
        for (CuratorCache c : caches.values()) {
            CloseableUtils.closeQuietly(c);
        }
        caches.clear();
        if (updateBench != null) {
            updateBench.close();
            updateBench = null;
        }
        if (registerDiscovery != null) {
            CloseableUtils.closeQuietly(registerDiscovery);
            registerDiscovery = null;
        }
    }
}
