using MetricsCollector.Devices;
using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace MetricsCollector.Api;

/// <summary><c>GET /metrics/devices/{deviceId}/live</c>: the device's windows that have not fired yet, from its running actors.</summary>
internal static class LiveApi
{
    public static async Task<IResult> LiveAsync(
        string deviceId, HttpRequest request, [FromServices] LiveWindows live, IResultStore store, CancellationToken ct)
    {
        deviceId = MetricsApi.DeviceIdOf(request, deviceId, segmentsAfter: 1);
        if (ApiParameters.DeviceId(deviceId) is { } badDevice)
        {
            return badDevice;
        }

        return await MetricsApi.Unavailable503Async(async () =>
        {
            var open = await live.OpenAsync(deviceId, ct);
            // No open window is either a device between windows (or passivated) or one never seen; only the second is a 404.
            if (open.Count == 0 && await store.LatestAsync(deviceId, ct) is null)
            {
                return MetricsApi.UnknownDevice(deviceId);
            }

            return MetricsApi.Json(open, WindowResultJson.WriteProvisionalRows);
        });
    }
}
