// Statistics: per service and real server, what `ipvsadm -L --stats` and `--rate` show (totals
// since it was added; IPVS's 2-second estimator with EWMA weight 1/4), with ActiveConn, InActConn
// and PersistConn. Read by `sluice list`. Not config: no ETag, no If-Match.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DirectorControl } from '../control.ts';
import { StatsSchema } from './schemas.ts';

export const statsRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['stats'],
        summary:
          'Per service and real server: connections, packets and bytes since added, rates (IPVS estimator), ' +
          'ActiveConn, InActConn, PersistConn. Out* are 0: under direct routing replies bypass the director',
        response: { 200: StatsSchema },
      },
    },
    async () => control.stats(),
  );
};
