// Overview: requests, images, spend and error rate over the last hour, day or 30 days, broken down
// by model, channel and key; the queue, in-flight work and channel health (operators); retention.

import { useMemo, useState } from 'preact/hooks';
import { usd, type Session } from '../api.js';
import { Chart, ErrorMessage, useLoad } from '../ui.js';

interface Totals {
  requests: number;
  errors: number;
  error_rate: number;
  images_delivered: number;
  amount: number;
}

const windows = [
  { value: 'hour', label: 'Last hour' },
  { value: 'day', label: 'Last day' },
  { value: 'month', label: 'Last 30 days' },
];

function Breakdown({ title, rows }: { title: string; rows: Array<Totals & { group: string | null; label?: string }> }) {
  return (
    <section>
      <h3>{title}</h3>
      {rows.length === 0 ? (
        <p class="muted">Nothing in this window.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{title.replace(/^By /, '')}</th>
              <th scope="col">Requests</th>
              <th scope="col">Errors</th>
              <th scope="col">Images</th>
              <th scope="col">Spend</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.group ?? 'none'}>
                <td>{row.label ?? row.group ?? '(none)'}</td>
                <td>{row.requests}</td>
                <td>{row.errors}</td>
                <td>{row.images_delivered}</td>
                <td>{usd(row.amount)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function OverviewPage({ session }: { session: Session }) {
  const [window, setWindow] = useState('day');
  const stats = useLoad<any>(`/stats?window=${window}`, 15_000);
  const status = useLoad<any>(session.role === 'operator' ? '/status' : null, 5_000);
  const settings = useLoad<any>('/settings');
  const data = stats.data;
  const times = useMemo(() => (data?.series ?? []).map((bucket: any) => bucket.start as number), [data]);
  const series = useMemo(() => {
    const rows: any[] = data?.series ?? [];
    return {
      traffic: [
        { label: 'Requests', values: rows.map((row) => row.requests) },
        { label: 'Errors', values: rows.map((row) => row.errors) },
      ],
      images: [{ label: 'Images delivered', values: rows.map((row) => row.images_delivered) }],
      spend: [{ label: 'Spend (USD)', values: rows.map((row) => row.amount / 1_000_000), format: (value: number) => `$${value.toFixed(4)}` }],
      errorRate: [{ label: 'Error rate (%)', values: rows.map((row) => Math.round(row.error_rate * 1000) / 10) }],
    };
  }, [data]);
  const totals: Totals | undefined = data?.totals;
  return (
    <div>
      <div role="group" aria-label="Time window" class="toolbar">
        {windows.map((option) => (
          <button key={option.value} type="button" aria-pressed={window === option.value} onClick={() => setWindow(option.value)}>
            {option.label}
          </button>
        ))}
      </div>
      <ErrorMessage error={stats.error} />
      {totals ? (
        <dl class="cards">
          <div>
            <dt>Requests</dt>
            <dd>{totals.requests}</dd>
          </div>
          <div>
            <dt>Images delivered</dt>
            <dd>{totals.images_delivered}</dd>
          </div>
          <div>
            <dt>Spend</dt>
            <dd>{usd(totals.amount)}</dd>
          </div>
          <div>
            <dt>Error rate</dt>
            <dd>{(totals.error_rate * 100).toFixed(1)}%</dd>
          </div>
          {status.data ? (
            <>
              <div>
                <dt>Queued tasks</dt>
                <dd>{status.data.tasks.queued}</dd>
              </div>
              <div>
                <dt>Tasks in progress</dt>
                <dd>{status.data.tasks.in_progress}</dd>
              </div>
              <div>
                <dt>Upstream calls in flight</dt>
                <dd>{status.data.in_flight}</dd>
              </div>
            </>
          ) : null}
        </dl>
      ) : null}
      {data ? (
        <div class="charts">
          <Chart title="Requests and errors" times={times} series={series.traffic} />
          <Chart title="Images delivered" times={times} series={series.images} />
          <Chart title="Spend" times={times} series={series.spend} />
          <Chart title="Error rate" times={times} series={series.errorRate} />
        </div>
      ) : null}
      {data ? (
        <div class="breakdowns">
          <Breakdown title="By model" rows={data.by_model} />
          <Breakdown title="By channel" rows={data.by_channel} />
          {session.role === 'operator' ? <Breakdown title="By key" rows={data.by_key} /> : null}
        </div>
      ) : null}
      {status.data ? (
        <section>
          <h2>Channel health</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Enabled</th>
                <th scope="col">Circuit</th>
                <th scope="col">In flight</th>
                <th scope="col">Waiting</th>
                <th scope="col">Consecutive failures</th>
              </tr>
            </thead>
            <tbody>
              {status.data.channels.map((channel: any) => (
                <tr key={channel.name}>
                  <td>{channel.name}</td>
                  <td>{channel.enabled ? 'yes' : 'no'}</td>
                  <td class={`circuit-${channel.circuit}`}>{channel.circuit}</td>
                  <td>{channel.in_flight}</td>
                  <td>{channel.queued}</td>
                  <td>{channel.consecutive_failures}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {settings.data ? (
        <section>
          <h2>Retention</h2>
          <ul>
            <li>Images, finished tasks and webhook deliveries: {settings.data.retention.images_and_tasks_hours} hours</li>
            <li>Request log: {settings.data.retention.request_log_days === null ? 'kept until removed' : `${settings.data.retention.request_log_days} days`}</li>
            <li>Usage detail (charges): {settings.data.retention.usage_detail_days === null ? 'kept (it explains balances)' : `${settings.data.retention.usage_detail_days} days`}</li>
          </ul>
        </section>
      ) : null}
    </div>
  );
}
