import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.mapper.MapperExtrasPlugin;
import org.elasticsearch.join.ParentJoinPlugin;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.reindex.ReindexPlugin;
import org.elasticsearch.transport.Netty4Plugin;

/**
 * Starts one Elasticsearch 7.17 node for local tests from the jars on the
 * classpath: the server plus the modules Maven Central publishes (HTTP and
 * transport over Netty, mapper extras, parent-join, reindex). No x-pack,
 * no analysis-common, no painless.
 *
 * System properties: es.base (work folder: home/, data/, logs/ below it),
 * es.http.port, es.transport.port.
 */
public class Launcher {
    public static void main(String[] args) throws Exception {
        Path base = Path.of(System.getProperty("es.base")).toAbsolutePath();
        String node = "reprocess-local-1";
        Path home = base.resolve("home");
        Path config = home.resolve("config");
        for (Path p : List.of(config, home.resolve("modules"), home.resolve("plugins"), base.resolve("data"), base.resolve("logs"))) {
            Files.createDirectories(p);
        }
        Files.writeString(config.resolve("log4j2.properties"), String.join("\n",
            "status = error",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %marker %m%n",
            "rootLogger.level = info",
            "rootLogger.appenderRef.console.ref = console",
            ""));

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", base.resolve("data").toString())
            .put("path.logs", base.resolve("logs").toString())
            .put("cluster.name", "reprocess-local")
            .put("node.name", node)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", System.getProperty("es.http.port", "9200"))
            .put("transport.port", System.getProperty("es.transport.port", "9300"))
            // A nearly full CI disk must not flip test indices to read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> node);
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(node);
        LogConfigurator.configure(env);

        // The three-argument constructor is protected; the override skips a
        // logging hook that only the full bootstrap sets up.
        Node es = new Node(env, List.of(Netty4Plugin.class, MapperExtrasPlugin.class, ParentJoinPlugin.class, ReindexPlugin.class), true) {
            @Override
            protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
            }
        };
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                es.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "es-shutdown"));
        es.start();
        System.out.println("reprocess launcher: node started");
        stopped.await(); // Elasticsearch's threads are daemons: keep the JVM alive.
    }
}
