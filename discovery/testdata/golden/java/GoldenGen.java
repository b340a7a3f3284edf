import com.example.Details;
import com.example.InstanceDetails;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.UriSpec;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

// Prints "<case>\t<bytes Curator's JsonInstanceSerializer writes>" for every golden case
// of discovery/golden_test.go; the output is testdata/golden/curator-5.4.0.txt.
public class GoldenGen {
    static final long T = 1700000000000L;
    static final String ID = "3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b";
    static final String TRICKY = "\u00fcml\u00e4ut \u2028\u2029 \ud83d\ude00 \u0001\u001f\u007f\u0085 \"q\" \\ / <b>&amp;</b> \b\f\n\r\t \ufeff";

    static void out(String name, ServiceInstance<Object> si, boolean compat) throws Exception {
        byte[] b = new JsonInstanceSerializer<Object>(Object.class, compat).serialize(si);
        System.out.println(name + "\t" + new String(b, StandardCharsets.UTF_8));
    }

    static ServiceInstance<Object> inst(String name, Object payload) {
        return new ServiceInstance<Object>(name, ID, "127.0.0.1", 8080, null, payload, T, ServiceType.DYNAMIC, null, true);
    }

    static void payload(String name, Object payload) throws Exception {
        out(name, inst("svc", payload), true);
    }

    public static void main(String[] args) throws Exception {
        out("seed", inst("bookService", new InstanceDetails(true)), true);
        out("seed-follower", inst("bookService", new InstanceDetails(false)), true);
        out("seed-noncompat-disabled", new ServiceInstance<Object>("bookService", ID, "127.0.0.1", 8080, null,
                new InstanceDetails(true), T, ServiceType.DYNAMIC, null, false), false);
        out("seed-noncompat-enabled", inst("bookService", new InstanceDetails(true)), false);
        out("ssl-urispec", new ServiceInstance<Object>("bookService", ID, "127.0.0.1", 8080, 8443,
                new InstanceDetails(false), T, ServiceType.DYNAMIC, new UriSpec("{scheme}://{address}:{port}"), true), true);
        out("urispec-braces", new ServiceInstance<Object>("svc", ID, "10.0.0.1", 0, null,
                null, T, ServiceType.DYNAMIC, new UriSpec("{scheme}://{ address }:{port}/x{[}y{]}{ }z{}"), true), true);
        for (ServiceType st : ServiceType.values()) {
            out("type-" + st.name(), new ServiceInstance<Object>("svc", ID, "127.0.0.1", 8080, null,
                    new InstanceDetails(false), T, st, null, true), true);
        }
        out("nulls", new ServiceInstance<Object>("svc", ID, null, null, null, null, 0L, ServiceType.DYNAMIC, null, true), true);
        out("tricky-strings", new ServiceInstance<Object>("svc", ID, TRICKY, -1, 65535, TRICKY, -5L, ServiceType.DYNAMIC,
                new UriSpec(TRICKY.replace("{", "").replace("}", "") + "{" + "v\u00e4r" + "}"), true), true);

        payload("payload-string", "hello");
        payload("payload-empty-string", "");
        payload("payload-int", 42);
        payload("payload-int-negative", -2147483648);
        payload("payload-long", 5L);
        payload("payload-long-big", 9223372036854775807L);
        payload("payload-short", (short) -3);
        payload("payload-byte", (byte) 7);
        payload("payload-double", 2.0);
        payload("payload-double-frac", 0.1);
        payload("payload-double-third", 1.0 / 3.0);
        payload("payload-double-big", 1e10);
        payload("payload-double-small", 1.5e-7);
        payload("payload-double-edge-low", 0.001);
        payload("payload-double-edge-high", 1234567.0);
        payload("payload-double-sci", 12345678.0);
        payload("payload-double-negzero", -0.0);
        payload("payload-double-max", Double.MAX_VALUE);
        payload("payload-float", 1.5f);
        payload("payload-float-frac", 0.1f);
        payload("payload-bool", true);
        payload("payload-biginteger", new BigInteger("123456789012345678901234567890"));
        payload("payload-list", new ArrayList<Object>(Arrays.asList("a", "b")));
        payload("payload-list-empty", new ArrayList<Object>());
        List<Object> mixed = new ArrayList<Object>(Arrays.asList(1, "x", true));
        payload("payload-list-mixed", mixed);
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("k", "v");
        m.put("n", 1);
        m.put("nested", new LinkedHashMap<String, Object>(Map.of("a", 1)));
        payload("payload-map", m);
        payload("payload-map-empty", new LinkedHashMap<String, Object>());
        payload("payload-bytes", new byte[] {1, 2, 3});
        Details d = new Details();
        d.description = TRICKY;
        d.weight = 3;
        d.big = 1L << 40;
        d.ratio = 0.25;
        d.leader = true;
        d.tags = Arrays.asList("x", "y");
        d.meta = new LinkedHashMap<String, String>(Map.of("dc", "eu-1"));
        d.inner = new InstanceDetails(true);
        payload("payload-pojo", d);
        payload("payload-pojo-empty", new Details());
    }
}
