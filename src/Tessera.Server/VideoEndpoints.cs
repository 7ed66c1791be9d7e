using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Tessera.Server;

/// <summary>The SAM 2 video endpoints under <c>/api/sam/videos</c> (<see cref="VideoService"/>).</summary>
internal static class VideoEndpoints
{
    /// <summary>Maps the endpoints on <paramref name="api"/>; <paramref name="video"/> gives the service or throws 404.</summary>
    public static void MapVideo(this RouteGroupBuilder api, Func<VideoService> video, long maxBytes, CancellationToken stopping)
    {
        var videos = api.MapGroup("/sam/videos");
        videos.MapPost("", async (HttpContext ctx) =>
        {
            var service = video();
            var request = ctx.Request;
            if (request.ContentLength > maxBytes) throw ApiException.BadRequest($"upload is larger than the server's limit of {maxBytes / (1024 * 1024)} MiB");
            if (!request.HasFormContentType)
                throw ApiException.BadRequest("frames: expected multipart/form-data with the frame images as files named 'frames'");
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw ApiException.BadRequest($"frames: not a readable multipart/form-data body ({e.Message.ReplaceLineEndings(" ")})");
            }
            var files = form.Files.GetFiles("frames");
            var videos = form.Files.GetFiles("video");
            var unknown = form.Files.Select(f => f.Name).Concat(form.Keys).FirstOrDefault(n => n is not ("frames" or "video"));
            if (unknown is not null) throw ApiException.BadRequest($"{unknown}: unknown field; send the frame images as files named 'frames' or one video file named 'video'");
            if (videos.Count > 1 || (videos.Count == 1 && files.Count > 0))
                throw ApiException.BadRequest("video: send one video file named 'video' or the frame images named 'frames', not both");
            var cancel = TesseraServer.Link(ctx, stopping);
            var response = videos.Count == 1 ? await service.UploadVideoAsync(videos[0], cancel).ConfigureAwait(false) : await service.UploadFramesAsync(files, cancel).ConfigureAwait(false);
            return Results.Json(response, HttpIO.Json);
        }).Accepts<IFormFileCollection>("multipart/form-data").Produces<VideoResponse>().Errors().DisableAntiforgery()
          .WithSummary("Upload a short clip: its frames as JPEG or PNG files named 'frames' (multipart/form-data, in order), or one video file named 'video' (decoded by ffmpeg). SAM 2 checkpoints with video weights only.");

        videos.MapGet("/{id}/frames/{frame:int}", (string id, int frame) =>
            Send(video().Sessions.Get(id).FrameJpeg, frame, "image/jpeg"))
          .Produces(200, contentType: "image/jpeg").Errors().WithSummary("Frame FRAME of the clip (JPEG).");

        videos.MapPost("/{id}/track", async (HttpContext ctx, string id) =>
        {
            var service = video();
            var request = await HttpIO.ReadJsonAsync<VideoTrackRequest>(ctx.Request, maxBytes, ctx.RequestAborted).ConfigureAwait(false);
            return Results.Json(service.Track(id, request, stopping), HttpIO.Json, statusCode: 202);
        }).Accepts<VideoTrackRequest>("application/json").Produces<VideoTrackStatus>(202).Produces<ErrorResponse>(409).Errors()
          .WithSummary("Track the objects of the prompts through the clip (the loop of tessera sam track) in the SAM queue; poll GET …/track.");

        videos.MapGet("/{id}/track", (string id) => Results.Json(video().Sessions.Get(id).Status(), HttpIO.Json))
          .Produces<VideoTrackStatus>().Errors().WithSummary("Where the latest run stands: state, frame steps done of total, frames with results.");

        videos.MapDelete("/{id}/track", (string id) =>
        {
            var session = video().Sessions.Get(id);
            session.Cancel();
            return Results.Json(session.Status(), HttpIO.Json);
        }).Produces<VideoTrackStatus>().Errors().WithSummary("Cancel the queued or running run.");

        videos.MapGet("/{id}/labels/{frame:int}", (string id, int frame) =>
            Send(File.ReadAllBytes, video().Sessions.Get(id).ResultFile(frame, overlay: false), "image/png"))
          .Produces(200, contentType: "image/png").Errors().WithSummary("Label map of a tracked frame: palette PNG, pixel value = object id (0 background).");

        videos.MapGet("/{id}/overlays/{frame:int}", (string id, int frame) =>
            Send(File.ReadAllBytes, video().Sessions.Get(id).ResultFile(frame, overlay: true), "image/png"))
          .Produces(200, contentType: "image/png").Errors().WithSummary("The frame with each tracked object in its colour (PNG).");

        videos.MapDelete("/{id}", (string id) =>
        {
            video().Sessions.Remove(id);
            return Results.NoContent();
        }).Produces(204).Errors().WithSummary("Forget the clip: its run cancelled, its files deleted.");
    }

    // The bytes read(what) gives of a clip; a file deleted or frames disposed meanwhile (the clip evicted, a new run begun) is a 404.
    private static IResult Send<T>(Func<T, byte[]> read, T what, string type)
    {
        try
        {
            return Results.Bytes(read(what), type);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or ObjectDisposedException)
        {
            throw new ApiException(404, "the file is gone: the clip was evicted or a new run replaced its results", "gone");
        }
    }
}
